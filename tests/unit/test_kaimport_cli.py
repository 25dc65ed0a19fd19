"""`vrrpctl import-keepalived FILE`: exit status, stdout TOML, stderr `FILE:LINE: ...`, one
line for a file that cannot be read or parsed; and the tokenizer never crashes."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vrrpd import kaconf, kaimport
from vrrpd.cli import IMPORT_DIFFERS, vrrpctl_main, vrrpd_main
from vrrpd.config import parse

DATA = Path(__file__).resolve().parents[1] / "data" / "keepalived"
REPO = Path(__file__).resolve().parents[2]


def run(path: Path | str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, list[str]]:
    code = vrrpctl_main(["import-keepalived", str(path)])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def check_config(toml: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "vrrpd.toml"
    f.write_text(toml)
    assert vrrpd_main(["--check-config", str(f)]) == 0, capsys.readouterr().err
    capsys.readouterr()


def test_faithful_file_exits_0_with_nothing_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(DATA / "unicast.conf", capsys)
    assert (code, err) == (0, [])
    assert out.startswith("# vrrpd configuration imported from ")
    assert "# Complete: nothing was changed or dropped." in out
    assert tomllib.loads(out)["virtual_router"][0]["unicast_peers"] == ["192.0.2.12"]
    check_config(out, tmp_path, capsys)


def test_differences_exit_2_one_line_each_on_stderr_and_in_the_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(DATA / "ab-master.conf", capsys)
    assert code == IMPORT_DIFFERS == 2
    assert err
    for line in err:
        assert re.match(rf"^{re.escape(str(DATA / 'ab-master.conf'))}:\d+: \S", line), line
        assert f"#   {line}" in out  # the TOML carries the report as comments
    assert any(":17: state MASTER: not emitted" in line for line in err)
    check_config(out, tmp_path, capsys)


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.conf")))
def test_every_data_file_passes_check_config(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(DATA / name, capsys)
    assert code in (0, IMPORT_DIFFERS)
    check_config(out, tmp_path, capsys)


def test_included_file_is_cited_by_its_own_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(DATA / "include-main.conf", capsys)
    assert code == 2
    assert err == [
        f"{DATA / 'conf.d' / '10-web.conf'}:8: bogus_keyword: ignored (no vrrpd equivalent)"
    ]


def test_missing_file_is_one_line_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(tmp_path / "nope.conf", capsys)
    assert (code, out) == (1, "")
    assert err == [f"vrrpctl: {tmp_path / 'nope.conf'}: cannot read: No such file or directory"]


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("vrrp_instance x {\n interface eth0\n", 1, "is never closed"),
        ("global_defs {\n}\n}\n", 3, "without a matching"),
        ('vrrp_script s {\n script "/bin/x\n}\n', 2, "unterminated quote"),
        ("{\n", 1, "without a keyword"),
    ],
)
def test_syntax_error_is_one_line_exit_1(
    text: str, line: int, what: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "keepalived.conf"
    f.write_text(text)
    code, out, err = run(f, capsys)
    assert (code, out) == (1, "")
    assert len(err) == 1 and err[0].startswith(f"vrrpctl: {f}:{line}: "), err
    assert what in err[0]


def test_unreadable_include_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "keepalived.conf"
    f.write_text("include sub.conf\n")
    (tmp_path / "sub.conf").write_text("include keepalived.conf\n")
    code, _, err = run(f, capsys)
    assert code == 1 and len(err) == 1 and "includes itself" in err[0]


def test_include_matching_nothing_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "keepalived.conf"
    f.write_text(
        "include extra/*.conf\nvrrp_instance a {\n interface eth0\n virtual_router_id 1\n"
        " virtual_ipaddress {\n 192.0.2.1\n }\n}\n"
    )
    code, _, err = run(f, capsys)
    assert code == 2
    assert err == [f"{f}:1: include extra/*.conf: matches no file, nothing included"]


def test_no_instance_at_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "keepalived.conf"
    f.write_text("global_defs {\n router_id x\n}\n")
    code, _, err = run(f, capsys)
    assert code == 2
    assert err[-1] == f"{f}: no vrrp_instance vrrpd can run"


def test_the_installed_command(tmp_path: Path) -> None:
    """The real entry point, as the migration runs it: stdout and stderr apart."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from vrrpd.cli import vrrpctl_main; sys.exit(vrrpctl_main())",
            "import-keepalived",
            str(DATA / "sync-group.conf"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert tomllib.loads(done.stdout)["sync_group"][0]["members"] == ["inside", "outside"]
    assert all(
        line.startswith(str(DATA / "sync-group.conf") + ":") for line in done.stderr.splitlines()
    )


def test_help_lists_import_keepalived(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        vrrpctl_main(["--help"])
    assert "import-keepalived" in capsys.readouterr().out


# --- the tokenizer and the converter never crash --------------------------------------------

WORDS = st.sampled_from(
    [
        "vrrp_instance",
        "vrrp_script",
        "vrrp_sync_group",
        "global_defs",
        "group",
        "{",
        "}",
        "interface",
        "eth0",
        "virtual_router_id",
        "51",
        "priority",
        "255",
        "0",
        "-3",
        "virtual_ipaddress",
        "192.0.2.1/24",
        "2001:db8::1",
        "fe80::1",
        "track_script",
        "weight",
        "reverse",
        "script",
        '"/bin/x a"',
        "state",
        "MASTER",
        "nopreempt",
        "advert_int",
        "0.001",
        "1e9",
        "version",
        "3",
        "2",
        "vrrp_strict",
        "unicast_peer",
        "authentication",
        "auth_type",
        "AH",
        "PASS",
        "auth_pass",
        "notify",
        "track_file",
        "vrrp_track_file",
        "file",
        "/run/x",
        "track_interface",
        "include",
        "#",
        "!",
        "\\",
        '"',
        "@x",
        "$A=1",
        "$A",
        "garp_master_delay",
        "garp_master_repeat",
        "1000",
        "virtual_ipaddress_excluded",
        "use_vmac",
        "accept",
        "no_accept",
        "preempt_delay",
        "192.0.2.1-3",
        "x" * 40,
    ]
)
LINES = st.lists(st.lists(WORDS, max_size=6).map(" ".join), max_size=30).map("\n".join)


def _never_crashes(text: str, net: bool = True) -> None:
    """Parsed, or one line of error; converted to a valid document. `net`: the validation
    safety net may have had to drop something (for random text it may)."""
    try:
        parsed = kaconf.parse_text(text, "k.conf")
    except kaconf.KaSyntaxError as e:
        message = str(e)
        assert "\n" not in message and message.startswith("k.conf:"), message
        return
    result = kaimport.convert(parsed, resolve=lambda p: None)
    for line in result.report:
        assert "\n" not in line
        assert net or "vrrpd would refuse" not in line, line
    if result.doc["virtual_router"]:
        parse(result.doc, "imported")  # the safety net keeps the document valid


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text_is_parsed_or_one_line_error(text: str) -> None:
    _never_crashes(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES)
def test_keyword_soup_is_converted_or_one_line_error(text: str) -> None:
    _never_crashes(text)


BODY = st.sampled_from(
    [
        "interface eth0",
        "interface eth1",
        "virtual_router_id 51",
        "virtual_router_id 52",
        "priority 1",
        "priority 100",
        "priority 254",
        "priority 255",
        "state MASTER",
        "state BACKUP",
        "nopreempt",
        "preempt_delay 5",
        "advert_int 0.004",
        "advert_int 3.5",
        "version 2",
        "version 3",
        "strict_mode",
        "accept",
        "no_accept",
        "use_vmac",
        "virtual_ipaddress {\n 192.0.2.1/24\n 192.0.2.2\n}",
        "virtual_ipaddress {\n 2001:db8::1/64\n}",
        "virtual_ipaddress {\n fe80::5/64\n}",
        "virtual_ipaddress_excluded {\n 192.0.2.9\n 2001:db8::9\n}",
        "unicast_peer {\n 192.0.2.7\n}",
        "unicast_src_ip 192.0.2.8",
        "unicast_src_ip 192.0.2.7",
        "unicast_src_ip 2001:db8::7",
        "unicast_peer {\n 2001:db8::7\n 192.0.2.7\n}",
        "authentication {\n auth_type PASS\n auth_pass abcdefghij\n}",
        "authentication {\n auth_type AH\n}",
        "track_script {\n s1\n s2 weight 200\n}",
        "track_script {\n s1 weight -250 reverse\n}",
        "track_interface {\n eth9 weight 253\n}",
        "track_interface {\n eth0 weight 0 reverse\n}",
        "track_file {\n f1 weight 254\n}",
        'notify "/bin/n a"',
        "notify_master x y z",
        "notify_stop /bin/s",
        "garp_master_delay 0",
        "garp_master_repeat 200",
        "garp_master_refresh 0.5",
    ]
)
HEAD = st.sampled_from(
    [
        "",
        "global_defs {\n vrrp_strict\n}",
        "global_defs {\n vrrp_version 3\n}",
        "vrrp_script s1 {\n script /bin/t\n weight 100\n init_fail\n timeout 9\n}",
        'vrrp_script s2 {\n script "a | b"\n weight -7 reverse\n rise 500\n}',
        "vrrp_track_file f1 {\n file /run/f\n weight 99999\n}",
        "vrrp_sync_group g {\n group {\n a\n b\n c\n }\n notify /bin/g\n"
        " track_script {\n s1 weight 3\n }\n}",
    ]
)
VIPS = st.sampled_from(
    ["192.0.2.1/24", "192.0.2.2", "198.51.100.1/24", "2001:db8::1/64", "fe80::1/64 dev eth0"]
)
INSTANCES = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "bad name!"]),
        st.integers(1, 3),
        st.lists(VIPS, min_size=1, max_size=3),
        st.lists(BODY, max_size=12),
    ),
    max_size=4,
).map(
    lambda xs: "\n".join(
        f'vrrp_instance "{n}" {{\n interface eth0\n virtual_router_id {vrid}\n'
        " virtual_ipaddress {\n" + "\n".join(v) + "\n}\n" + "\n".join(b) + "\n}"
        for n, vrid, v, b in xs
    )
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(HEAD, max_size=4), INSTANCES)
def test_structured_configs_convert_to_a_valid_document(heads: list[str], body: str) -> None:
    _never_crashes("\n".join(heads) + "\n" + body, net=False)


BODY_EDGE = st.sampled_from(
    [
        "notify \"''\"",
        "notify_master \"/bin/x ''\"",
        "track_interface {\n a:b weight 3\n}",
        "authentication {\n auth_pass x\n}",
        "interface bad/name",
        "advert_int 99",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(HEAD, max_size=3), INSTANCES, st.lists(BODY_EDGE, max_size=4))
def test_odd_values_convert_to_a_valid_document(
    heads: list[str], body: str, odd: list[str]
) -> None:
    odd_one = (
        "vrrp_instance z {\n interface eth0\n virtual_router_id 9\n"
        " virtual_ipaddress {\n 203.0.113.9\n }\n" + "\n".join(odd) + "\n}"
    )
    text = "\n".join(heads) + "\n" + body + "\n" + odd_one
    _never_crashes(text, net=False)
