"""Scripts run as [daemon] script_user; a program that would run as root and that a user other
than root could change is refused (vrrpd.scriptsafety, pure; vrrpd.io.scripthost, the facts).

The pure rule is checked on hand-made stat facts (and with hypothesis against a plain
restatement of it); the adapter's path walk on real files, links and loops in a temporary
directory; the configuration keys through `config.load`, one line per problem.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.helpers import ROUTER, bad, one_router, problems, write
from vrrpd.config import ConfigError, DaemonConfig, load, parse
from vrrpd.io.scripthost import (
    Launcher,
    ScriptUserError,
    identity,
    path_facts,
    why_unsafe,
)
from vrrpd.scriptsafety import (
    CAP_SETGID,
    CAP_SETUID,
    SCRIPT_PATH,
    PathFact,
    ScriptIdentity,
    capability_mask,
    environment,
    missing_capabilities,
    programs,
    unsafe,
)

DIR, REG, LNK = stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK


def d(path: str, mode: int = 0o755, uid: int = 0) -> PathFact:
    return PathFact(path, uid, 0, DIR | mode)


def f(path: str, mode: int = 0o755, uid: int = 0) -> PathFact:
    return PathFact(path, uid, 0, REG | mode)


def link(path: str, uid: int = 0) -> PathFact:
    return PathFact(path, uid, 0, LNK | 0o777)


SAFE = [d("/"), d("/usr"), d("/usr/local"), d("/usr/local/bin"), f("/usr/local/bin/notify")]


# --- the pure rule ------------------------------------------------------------------------------


class TestRule:
    def test_root_owned_and_written_by_root_only_is_safe(self) -> None:
        assert unsafe(SAFE) is None

    def test_group_writable_script(self) -> None:
        facts = [*SAFE[:-1], f("/usr/local/bin/notify", 0o775)]
        assert unsafe(facts) == "/usr/local/bin/notify is writable by its group (mode 0775)"

    def test_world_writable_script(self) -> None:
        facts = [*SAFE[:-1], f("/usr/local/bin/notify", 0o757)]
        assert unsafe(facts) == "/usr/local/bin/notify is writable by others (mode 0757)"

    def test_group_zero_writable_counts_too(self) -> None:
        assert unsafe([d("/"), f("/notify", 0o770)]) is not None

    def test_world_writable_directory_without_sticky_bit(self) -> None:
        facts = [d("/"), d("/srv", 0o777), f("/srv/notify")]
        assert unsafe(facts) == "/srv is writable by its group and others (mode 0777)"

    def test_sticky_world_writable_directory_is_passed(self) -> None:
        """Like /tmp: nobody but root can rename or remove root's entries in it."""
        assert unsafe([d("/"), d("/tmp", 0o1777), d("/tmp/s", 0o700), f("/tmp/s/n")]) is None

    def test_a_file_with_the_sticky_bit_is_still_writable(self) -> None:
        assert unsafe([d("/"), f("/notify", 0o1777)]) is not None

    def test_owner_not_root(self) -> None:
        facts = [d("/"), d("/home/op", 0o755, uid=1000), f("/home/op/notify")]
        assert unsafe(facts) == "/home/op is owned by uid 1000, not root"

    def test_file_owned_by_another_user_even_read_only(self) -> None:
        assert unsafe([d("/"), f("/notify", 0o500, uid=1000)]) is not None

    def test_link_mode_is_ignored_but_its_owner_counts(self) -> None:
        """A link's own mode is always 0777 and means nothing; in a sticky directory its
        owner may replace it, so the owner must be root."""
        assert unsafe([d("/"), d("/tmp", 0o1777), link("/tmp/n"), d("/usr"), f("/usr/n")]) is None
        got = unsafe([d("/"), d("/tmp", 0o1777), link("/tmp/n", uid=1000), f("/usr/n")])
        assert got == "/tmp/n is owned by uid 1000, not root"

    def test_first_offender_is_named(self) -> None:
        facts = [d("/"), d("/a", 0o777), f("/a/n", 0o777, uid=5)]
        assert unsafe(facts) == "/a is writable by its group and others (mode 0777)"

    def test_missing_script_in_a_directory_only_root_writes(self) -> None:
        assert unsafe([d("/"), d("/usr"), d("/usr/local")], complete=False) is None

    def test_missing_script_in_a_sticky_world_writable_directory(self) -> None:
        """Anyone may create /tmp/not-yet and put a script there."""
        got = unsafe([d("/"), d("/tmp", 0o1777)], complete=False)
        assert got == (
            "it does not exist and /tmp is writable by its group and others (mode 1777): "
            "they could create it"
        )


def _breaks(fact: PathFact) -> bool:
    """The rule restated plainly, for one entry."""
    if fact.uid != 0:
        return True
    if stat.S_ISLNK(fact.mode):
        return False
    writable = fact.mode & 0o022 != 0
    sticky_dir = stat.S_ISDIR(fact.mode) and fact.mode & 0o1000 != 0
    return writable and not sticky_dir


facts_st = st.builds(
    PathFact,
    path=st.sampled_from(["/", "/a", "/a/b", "/tmp", "/x/y/z"]),
    uid=st.sampled_from([0, 0, 0, 0, 1, 1000, 65534]),
    gid=st.sampled_from([0, 1000]),
    mode=st.tuples(st.sampled_from([DIR, REG, LNK]), st.integers(0, 0o7777)).map(
        lambda t: t[0] | t[1]
    ),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(facts_st, min_size=1, max_size=8), st.booleans())
def test_rule_matches_its_plain_statement(facts: list[PathFact], complete: bool) -> None:
    got = unsafe(facts, complete)
    offenders = [x for x in facts if _breaks(x)]
    last_writable = not complete and facts[-1].mode & 0o022 != 0
    assert (got is None) == (not offenders and not last_writable)
    if offenders:
        assert got is not None and got.startswith(f"{offenders[0].path} is ")


@settings(max_examples=200, deadline=None)
@given(st.lists(facts_st, min_size=1, max_size=8), st.integers(0, 8))
def test_a_user_owned_entry_anywhere_is_refused(facts: list[PathFact], where: int) -> None:
    spot = min(where, len(facts) - 1)
    planted = [*facts[:spot], PathFact("/planted", 1000, 1000, REG | 0o700), *facts[spot + 1 :]]
    assert unsafe(planted) is not None
    assert unsafe(planted, complete=False) is not None


# --- capabilities and environment ---------------------------------------------------------------


class TestCapabilities:
    def test_switching_user_needs_setuid_and_setgid(self) -> None:
        assert missing_capabilities(0, 998, 65534) == ("CAP_SETUID", "CAP_SETGID")

    def test_held(self) -> None:
        both = 1 << CAP_SETUID | 1 << CAP_SETGID
        assert missing_capabilities(both, 998, 65534) == ()
        assert missing_capabilities(-1, 998, 65534) == ()

    def test_group_only_switch_needs_setgid(self) -> None:
        assert missing_capabilities(1 << CAP_SETUID, 998, 998) == ("CAP_SETGID",)
        assert missing_capabilities(1 << CAP_SETGID, 998, 998) == ()

    def test_net_admin_and_net_raw_are_not_enough(self) -> None:
        net = 1 << 12 | 1 << 13  # CAP_NET_ADMIN, CAP_NET_RAW
        assert missing_capabilities(net, 998, 65534) == ("CAP_SETUID", "CAP_SETGID")

    def test_mask_from_proc_status(self) -> None:
        text = "Name:\tvrrpd\nCapInh:\t0000000000000000\nCapEff:\t00000000000030c0\n"
        assert capability_mask(text, "CapEff") == 0x30C0
        assert capability_mask(text, "CapInh") == 0
        assert capability_mask(text, "CapAmb") == 0  # missing (an old kernel)


class TestEnvironment:
    def test_fixed_keys_and_passed_through_locale_only(self) -> None:
        who = ScriptIdentity(65534, 65534, "nobody", "/nonexistent", switch=True)
        inherited = {"LANG": "C.UTF-8", "TZ": "UTC", "SECRET": "x", "PATH": "/home/op/bin"}
        env = environment(who, inherited, {"VRRP_STATE": "MASTER"})
        assert env == {
            "PATH": SCRIPT_PATH,
            "HOME": "/nonexistent",
            "USER": "nobody",
            "LOGNAME": "nobody",
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "VRRP_STATE": "MASTER",
        }

    def test_a_uid_without_a_name_gets_no_user(self) -> None:
        env = environment(ScriptIdentity(4000, 4000), {}, {})
        assert env == {"PATH": SCRIPT_PATH, "HOME": "/"}

    def test_launcher_options(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("VRRPD_TEST_LEAK", "1")
        opts = Launcher(ScriptIdentity(65534, 65534, "nobody", "/", switch=True)).options(
            {"VRRP_KIND": "INSTANCE"}
        )
        assert opts["user"] == 65534 and opts["group"] == 65534 and opts["extra_groups"] == []
        assert opts["cwd"] == "/" and opts["close_fds"] and opts["start_new_session"]
        assert "VRRPD_TEST_LEAK" not in opts["env"] and opts["env"]["VRRP_KIND"] == "INSTANCE"
        own = Launcher(ScriptIdentity(os.geteuid(), os.getegid())).options({})
        assert not {"user", "group", "extra_groups"} & set(own)


# --- the path walk (real files) -------------------------------------------------------------------


def _paths(path: Path) -> list[str]:
    facts, complete = path_facts(str(path))
    assert complete
    return [x.path for x in facts]


def _prefix(p: Path) -> list[str]:
    """The entries from / to `p` itself (p has no links on its way)."""
    return ["/", *(str(q) for q in reversed(p.parents) if str(q) != "/"), str(p)]


class TestPathWalk:
    def test_plain_file(self, tmp_path: Path) -> None:
        script = tmp_path / "notify"
        script.write_text("#!/bin/sh\n")
        assert _paths(script) == _prefix(script)
        facts, _ = path_facts(str(script))
        st_ = script.stat()
        assert (facts[-1].uid, facts[-1].mode) == (st_.st_uid, st_.st_mode)

    def test_relative_link_with_dotdot(self, tmp_path: Path) -> None:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        (tmp_path / "b" / "real").write_text("")
        (tmp_path / "a" / "n").symlink_to("../b/real")
        assert _paths(tmp_path / "a" / "n") == [
            *_prefix(tmp_path / "a"),
            str(tmp_path / "a" / "n"),
            str(tmp_path / "b"),
            str(tmp_path / "b" / "real"),
        ]

    def test_absolute_link_starts_again_at_root(self, tmp_path: Path) -> None:
        (tmp_path / "real").write_text("")
        (tmp_path / "n").symlink_to(tmp_path / "real")
        got = _paths(tmp_path / "n")
        assert got[: len(_prefix(tmp_path)) + 1] == [*_prefix(tmp_path), str(tmp_path / "n")]
        assert got[len(_prefix(tmp_path)) + 1 :] == _prefix(tmp_path / "real")[1:]  # / once

    def test_missing_ends_at_the_deepest_directory(self, tmp_path: Path) -> None:
        facts, complete = path_facts(str(tmp_path / "nope" / "notify"))
        assert not complete
        assert facts[-1].path == str(tmp_path)

    def test_a_loop_of_links(self, tmp_path: Path) -> None:
        (tmp_path / "x").symlink_to("y")
        (tmp_path / "y").symlink_to("x")
        with pytest.raises(OSError) as info:
            path_facts(str(tmp_path / "x"))
        assert info.value.errno == errno.ELOOP
        assert why_unsafe(str(tmp_path / "x")) == (
            "its path cannot be checked: Too many levels of symbolic links"
        )

    def test_dotdot_above_root_stays_at_root(self) -> None:
        def lstat(p: str) -> os.stat_result:
            mode = REG | 0o755 if p == "/bin-true" else DIR | 0o755
            return os.stat_result((mode, 0, 0, 1, 0, 0, 0, 0, 0, 0))

        facts, complete = path_facts("/../../bin-true", lstat=lstat)
        assert complete and [x.path for x in facts] == ["/", "/bin-true"]

    def test_a_group_writable_script_on_disk_is_refused(self, tmp_path: Path) -> None:
        script = tmp_path / "notify"
        script.write_text("#!/bin/sh\n")
        script.chmod(0o775)
        reason = why_unsafe(str(script))
        assert reason is not None
        if os.geteuid() == 0:  # else the first entry not owned by root is named
            assert reason == f"{script} is writable by its group (mode 0775)"


# --- configuration ------------------------------------------------------------------------------


def _daemon(**keys: str) -> str:
    return "[daemon]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()) + ROUTER


class TestConfig:
    def test_default_is_the_daemons_own_user(self) -> None:
        cfg = parse({"virtual_router": [_router()]}, "t.toml")
        assert cfg.daemon.script_user is None and cfg.daemon.script_group is None
        who = identity(cfg.daemon)
        assert (who.uid, who.gid, who.switch) == (os.geteuid(), os.getegid(), False)

    def test_name_and_number_are_kept_as_given(self) -> None:
        cfg = parse({"daemon": {"script_user": "nobody", "script_group": 0}, **_routers()}, "t")
        assert (cfg.daemon.script_user, cfg.daemon.script_group) == ("nobody", 0)
        cfg = parse({"daemon": {"script_user": 65534}, **_routers()}, "t")
        assert cfg.daemon.script_user == 65534

    @pytest.mark.parametrize(
        ("value", "shown"),
        [("-x", "'-x'"), ("a b", "'a b'"), (-1, "-1"), (2**32 - 1, "4294967295"), (True, "true")],
    )
    def test_bad_values(self, tmp_path: Path, value: object, shown: str) -> None:
        text = repr(value).lower() if isinstance(value, bool) else repr(value).replace("'", '"')
        assert bad(tmp_path, _daemon(script_user=text)) == [
            f"daemon.script_user: must be a user name or a numeric id 0..4294967294, got {shown}"
        ]

    def test_group_needs_a_user(self, tmp_path: Path) -> None:
        assert bad(tmp_path, _daemon(script_group='"nogroup"')) == [
            "daemon.script_group: needs daemon.script_user (set both or neither)"
        ]

    def test_unknown_user_is_one_line_at_load(self, tmp_path: Path) -> None:
        assert bad(tmp_path, _daemon(script_user='"vrrpd-no-such-user"')) == [
            "daemon.script_user: no user 'vrrpd-no-such-user' on this host: create it "
            "(useradd --system) or name another"
        ]

    def test_unknown_group_is_one_line_at_load(self, tmp_path: Path) -> None:
        me = pwd.getpwuid(os.geteuid()).pw_name
        assert bad(tmp_path, _daemon(script_user=f'"{me}"', script_group='"vrrpd-no-grp"')) == [
            "daemon.script_group: no group 'vrrpd-no-grp' on this host: create it (groupadd) "
            "or name another"
        ]

    def test_uid_without_passwd_entry_needs_a_group(self) -> None:
        free = next(u for u in range(3_999_000, 4_000_000) if not _has_uid(u))
        with pytest.raises(ScriptUserError) as info:
            identity(DaemonConfig(script_user=free))
        assert str(info.value) == (
            f"daemon.script_user: uid {free} has no entry in the user database, so no primary "
            "group: set daemon.script_group"
        )
        who = identity(DaemonConfig(script_user=free, script_group=free))
        assert (who.uid, who.gid, who.name, who.home, who.switch) == (free, free, None, "/", True)

    def test_digits_are_a_name_first_then_a_uid(self) -> None:
        who = identity(DaemonConfig(script_user=str(os.geteuid())))
        assert who.uid == os.geteuid() and not who.switch

    def test_own_user_by_name_switches_nothing(self) -> None:
        me = pwd.getpwuid(os.geteuid())
        who = identity(DaemonConfig(script_user=me.pw_name))
        assert (who.uid, who.name) == (me.pw_uid, me.pw_name)
        assert who.switch == (me.pw_gid != os.getegid())

    def test_programs_are_named_by_their_keys(self) -> None:
        data = {
            "virtual_router": [
                _router(name="a", notify=["/n1", "x"]),
                _router(
                    name="b",
                    vrid=52,
                    virtual_ips=["192.0.2.253/24"],
                    track_scripts=[{"name": "c", "command": ["/c", "-v"]}],
                ),
            ],
            "sync_group": [{"name": "g", "members": ["a", "b"], "notify": ["/g"]}],
        }
        assert list(programs(parse(data, "t"))) == [
            ("virtual_router[0].notify", "/n1"),
            ("virtual_router[1].track_scripts[0].command", "/c"),
            ("sync_group[0].notify", "/g"),
        ]

    def test_unsafe_script_run_as_root_is_one_line_at_load(self, tmp_path: Path) -> None:
        """script_user "root": the scripts run as root whoever checks the file. (Run by a
        user other than root, the path is that user's and a line says what is missing.)"""
        script = tmp_path / "notify.sh"
        script.write_text("#!/bin/sh\n")
        script.chmod(0o777)
        text = '[daemon]\nscript_user = "root"\n' + one_router(notify=f'["{script}"]')
        lines = problems(write(tmp_path, text))
        refused = [line for line in lines if "refusing" in line]
        assert len(refused) == 1
        assert refused[0].startswith(
            f"{tmp_path}/vrrpd.toml: virtual_router[0].notify: refusing to run {script} as root: "
        )
        assert refused[0].endswith(
            "make the file and every directory on its path owned by root and not writable by "
            "group or others (chown root, chmod go-w), or set daemon.script_user to an "
            "unprivileged user"
        )
        if os.geteuid() == 0:
            assert lines == refused
            assert f"{script} is writable by its group and others (mode 0777)" in refused[0]

    def test_safe_program_run_as_root_loads(self, tmp_path: Path) -> None:
        if os.geteuid() != 0:
            text = one_router(notify='["/bin/true"]')  # not root: no check, nothing to refuse
        else:
            text = "[daemon]\nscript_user = 0\n" + one_router(notify='["/bin/true"]')
        assert load(write(tmp_path, text)).virtual_routers[0].notify == ("/bin/true",)

    def test_unsafe_script_run_as_another_user_is_not_checked(self, tmp_path: Path) -> None:
        script = tmp_path / "notify.sh"
        script.write_text("#!/bin/sh\n")
        script.chmod(0o777)
        text = '[daemon]\nscript_user = "nobody"\n' + one_router(notify=f'["{script}"]')
        try:
            load(write(tmp_path, text))
        except ConfigError as e:  # without CAP_SETUID: that line only, never a refusal
            assert os.geteuid() != 0
            assert [line for line in e.problems if "refusing" in line] == []


def _router(**keys: object) -> dict[str, object]:
    table: dict[str, object] = {
        "name": "gw",
        "interface": "eth0",
        "vrid": 51,
        "virtual_ips": ["192.0.2.254/24"],
    }
    table.update(keys)
    return table


def _routers() -> dict[str, object]:
    return {"virtual_router": [_router()]}


def _has_uid(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True
