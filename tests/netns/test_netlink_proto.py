"""The address protocol mark on a real kernel: vrrpd's `add_address` marks what it adds with
protocol 112, a later process (a restarted vrrpd) reads the mark back with
`address_records`, and the start-up plan removes only what is marked (or, without the mark,
recorded), never the host's own address, even when an address owner lists it as its VIP.

Each step runs vrrpd's code in the router's namespace as its own process, as a restarted
daemon would. The protocol is also read back by a bare netlink dump written here (iproute2
older than 6.2 does not print ``proto``), independent of pyroute2 and of vrrpd's parsing.
"""

from __future__ import annotations

import errno
import json
import sys
from typing import Any

from netns_lab.lab import Lab, Node

# Runs in the namespace: argv[1] is a JSON request, the answer is one JSON line.
VRRPD = r"""
import asyncio, json, sys
from ipaddress import ip_address, ip_interface
from vrrpd.addresses import recorded_on, startup_plan
from vrrpd.io import addrrecord
from vrrpd.io.netlink import Netlink, NetlinkFailure

async def main(req):
    nl = Netlink()
    out = {"keeps_proto": Netlink.keeps_proto()}
    try:
        index = (await nl.link("eth0")).index
        out["added"] = [await nl.add_address(index, ip_interface(a)) for a in req.get("add", [])]
        records = await nl.address_records(index)
        out["records"] = [[str(a.iface), a.primary, a.proto] for a in records]
        if "vips" in req:
            recorded = set()
            if req.get("record"):
                recorded = recorded_on(addrrecord.load(req["record"]).addresses, "eth0")
            keeps = req.get("keeps_proto", out["keeps_proto"])
            vips = {ip_address(v) for v in req["vips"]}
            owners = {ip_address(a) for a in req.get("owners", [])}
            plan = startup_plan(records, vips, recorded, keeps, owners)
            out["remove"] = [str(i) for i in plan.remove]
            out["host_owned"] = sorted(str(a) for a in plan.host_owned)
            out["removed"] = [await nl.del_address(index, i) for i in plan.remove]
        failures = {}
        for name, coro in (
            ("add", nl.add_address(999999, ip_interface("192.0.2.99/24"))),
            ("link", nl.link("nosuch0")),
            ("up", nl.set_up(999999)),
        ):
            try:
                await coro
                failures[name] = None
            except NetlinkFailure as e:
                failures[name] = e.code
        out["failures"] = failures
    finally:
        await nl.close()
    print(json.dumps(out))

asyncio.run(main(json.loads(sys.argv[1])))
"""

# Runs in the namespace: every address of eth0 with its IFA_PROTO (0 when absent), from a
# plain RTM_GETADDR dump.
RAW_DUMP = r"""
import json, socket, struct
RTM_GETADDR, NLM_F_REQUEST, NLM_F_DUMP, NLMSG_ERROR, NLMSG_DONE = 22, 1, 0x300, 2, 3
IFA_ADDRESS, IFA_LOCAL, IFA_PROTO = 1, 2, 11
index = socket.if_nametoindex("eth0")
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
s.send(struct.pack("=LHHLL", 24, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
       + struct.pack("=BBBBI", 0, 0, 0, 0, 0))
out, done = {}, False
while not done:
    data = s.recv(1 << 16)
    off = 0
    while off + 16 <= len(data):
        length, kind = struct.unpack_from("=LH", data, off)
        if kind == NLMSG_DONE:
            done = True
            break
        if kind == NLMSG_ERROR:
            raise SystemExit("netlink error")
        family, plen, _, _, ifindex = struct.unpack_from("=BBBBI", data, off + 16)
        attrs, a = {}, off + 24
        while a + 4 <= off + length:
            alen, atype = struct.unpack_from("=HH", data, a)
            if alen < 4:
                break
            attrs[atype & 0x3FFF] = data[a + 4 : a + alen]
            a += (alen + 3) & ~3
        if ifindex == index:
            raw = attrs.get(IFA_LOCAL) or attrs[IFA_ADDRESS]
            text = socket.inet_ntop(family, raw)
            out[f"{text}/{plen}"] = attrs[IFA_PROTO][0] if IFA_PROTO in attrs else 0
        off += (length + 3) & ~3
print(json.dumps(out))
"""

HOST = "192.0.2.1/24"  # r1's own address (the lab's default)
VIP4 = "192.0.2.254/24"
VIP6 = "2001:db8::254/64"
OTHER = "198.51.100.7/24"  # a host address vrrpd is not configured for


def vrrpd_step(node: Node, **req: Any) -> dict[str, Any]:
    cp = node.run([sys.executable, "-c", VRRPD, json.dumps(req)], timeout=60)
    return dict(json.loads(cp.stdout))


def raw_protos(node: Node) -> dict[str, int]:
    cp = node.run([sys.executable, "-c", RAW_DUMP], timeout=60)
    return dict(json.loads(cp.stdout))


def test_vrrpd_marks_what_it_adds_and_removes_only_that(lab: Lab) -> None:
    r1 = lab.add_router("r1", HOST)
    first = vrrpd_step(r1, add=[VIP4, VIP6, HOST])
    assert first["keeps_proto"], "this kernel is older than 6.1: it cannot keep IFA_PROTO"
    # The host's own address was there already: not added, so not claimed.
    assert first["added"] == [True, True, False]
    # Failures of every kind come out as NetlinkFailure, with the errno.
    assert first["failures"] == {"add": errno.ENODEV, "link": errno.ENODEV, "up": errno.ENODEV}
    r1.run(["ip", "addr", "add", OTHER, "dev", "eth0"])  # by hand: no mark

    kernel = raw_protos(r1)
    assert kernel[VIP4] == 112 and kernel[VIP6] == 112, kernel
    assert kernel[HOST] == 0 and kernel[OTHER] == 0, kernel
    assert all(p != 112 for a, p in kernel.items() if a.startswith("fe80:")), kernel

    # A restarted vrrpd: its configuration has an address owner (VIP = the host's address)
    # and a backup VIP that the predecessor left behind.
    owner = HOST.split("/")[0]
    second = vrrpd_step(r1, vips=[owner, VIP4.split("/")[0], VIP6.split("/")[0]], owners=[owner])
    assert {a: p for a, _, p in second["records"]} == kernel, "address_records vs the kernel"
    primary = {a: p for a, p, _ in second["records"]}
    assert primary[HOST] and not primary[VIP4], "192.0.2.254/24 is a secondary of eth0"
    assert sorted(second["remove"]) == sorted([VIP4, VIP6])
    assert second["removed"] == [True, True]
    assert second["host_owned"] == [HOST.split("/")[0]]
    left = r1.addresses()
    assert HOST in left and OTHER in left, left
    assert VIP4 not in left and VIP6 not in left, left


def test_without_the_mark_the_record_decides(lab: Lab) -> None:
    """An older kernel drops the mark (played here by asking the plan not to trust it): a
    recorded address goes, an unrecorded one - the owner's own address - stays."""
    r1 = lab.add_router("r1", HOST)
    r1.run(["ip", "addr", "add", VIP4, "dev", "eth0"])  # proto 0, as an old kernel leaves it
    record = lab.workdir / "r1.sock.record"
    rows = [["eth0", VIP4], ["eth1", HOST]]  # eth1: another interface
    record.write_text(json.dumps({"version": 1, "addresses": rows}))
    step = vrrpd_step(
        r1,
        vips=[HOST.split("/")[0], VIP4.split("/")[0]],
        owners=[HOST.split("/")[0]],
        record=str(record),
        keeps_proto=False,
    )
    assert {a: p for a, _, p in step["records"]}[VIP4] == 0
    assert step["remove"] == [VIP4]
    assert step["host_owned"] == [HOST.split("/")[0]]
    left = r1.addresses()
    assert HOST in left and VIP4 not in left, left
