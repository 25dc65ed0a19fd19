"""The conformance ledger: every requirement of RFC 5798 §5-§8 (with RFC 9568 and its
errata 8298-8301) and of RFC 3768 where VRRPv2 differs, that applies to a router, and what
vrrpd does about it.

Each entry: ``section``, ``requirement`` (a one-line paraphrase, never the RFC's text),
``status`` (``tested``, ``deviation``, ``not-implemented``, ``not-applicable``), ``test`` (a
pytest node id, or None) and ``note``. For a tested entry the test's docstring starts with
``f"{section} {requirement}"`` (test_ledger.py holds the two together). A deviation with a
test has a test that pins the deliberate behaviour. ``tools/conformance_table.py`` renders
this list with a run's results as CONFORMANCE.md.

RFC text was read through the reference search; erratum 8298 itself was not in the corpus:
its entry follows /work/shared/RFC-NOTES.md and vrrpd's FSM tests.
"""

from __future__ import annotations

from typing import TypedDict

STATUSES = ("tested", "deviation", "not-implemented", "not-applicable")


class Entry(TypedDict):
    section: str
    requirement: str
    status: str
    test: str | None
    note: str


def _e(
    section: str, requirement: str, status: str, test: str | None = None, note: str = ""
) -> Entry:
    if test is not None and "::" not in test:
        file, name = test.split(":", 1)
        test = f"tests/conformance/test_{file}.py::{name}"
    return Entry(section=section, requirement=requirement, status=status, test=test, note=note)


T, D, N, X = "tested", "deviation", "not-implemented", "not-applicable"

NO_VMAC = (
    "Default use_vmac = false (keepalived's default too): the interface MAC is used; "
    "use_vmac = true conforms, see the next entry."
)

LEDGER: list[Entry] = [
    # --- §5.1.1 IPv4 header ---------------------------------------------------------------
    _e("§5.1.1.1", "The source is the primary IPv4 address of the sending interface.", T,
       "transmit:test_advert_source_is_primary_address",
       "A secondary address is present and never used."),
    _e("§5.1.1.2", "Adverts are sent to the IPv4 multicast address 224.0.0.18.", T,
       "transmit:test_advert_destination_is_the_vrrp_group",
       "Unicast peers (not in the RFC) send to each peer instead."),
    _e("§5.1.1.2", "Routers MUST NOT forward datagrams to 224.0.0.18.", X, None,
       "vrrpd forwards nothing; Linux never forwards link-local multicast (224.0.0.0/24)."),
    _e("§5.1.1.3", "MUST send with IP TTL 255.", T, "transmit:test_advert_ttl_255"),
    _e("§7.1", "MUST discard: IP TTL not 255 (§5.1.1.3).", T,
       "receive:test_ttl_not_255_discarded",
       "unicast_ttl_check = false (unicast only, not in the RFC) lets routed peers through."),
    _e("§5.1.1.4", "Adverts use IP protocol 112.", T, "transmit:test_advert_protocol_112"),
    _e("RFC 4594", "Network control traffic SHOULD be marked DSCP CS6.", T,
       "transmit:test_advert_dscp_cs6", "Not an RFC 5798 requirement; keepalived does the same."),
    # --- §5.1.2 IPv6 header ---------------------------------------------------------------
    _e("§5.1.2.1", "The source is the link-local address of the sending interface.", T,
       "ipv6:test_v6_source_link_local"),
    _e("§5.1.2.2", "Adverts are sent to the IPv6 multicast address ff02::12.", T,
       "ipv6:test_v6_destination_group"),
    _e("§5.1.2.2", "Routers MUST NOT forward datagrams to ff02::12.", X, None,
       "vrrpd forwards nothing; link-local scope multicast is never forwarded by Linux."),
    _e("§5.1.2.3", "MUST send with hop limit 255.", T, "ipv6:test_v6_hop_limit_255"),
    _e("§7.1", "MUST discard: IPv6 hop limit not 255 (§5.1.2.3).", T,
       "ipv6:test_v6_hop_limit_not_255_discarded"),
    _e("§5.1.2.4", "The IPv6 next header is 112.", T, "ipv6:test_v6_next_header_112"),
    # --- §5.2 the VRRP message ------------------------------------------------------------
    _e("§5.2.1/§5.2.2", "Version 3, type 1 (ADVERTISEMENT).", T,
       "transmit:test_advert_version_3_type_1"),
    _e("§7.1", "MUST discard: VRRP version not 3.", T, "receive:test_version_not_3_discarded",
       "A well-formed VRRPv2 advert to a v3 router is one of the cases."),
    _e("§5.2.2", "MUST discard: a packet with unknown type.", T,
       "receive:test_unknown_type_discarded"),
    _e("§5.2.3", "The VRID is configurable in the range 1-255.", T, "config:test_vrid_range"),
    _e("§5.2.3/§5.2.4", "VRID and priority fields carry the configured values.", T,
       "transmit:test_advert_vrid_and_priority_as_configured"),
    _e("§5.2.4", "MUST: backups use priorities 1-254, the owner 255; 0 is never configured.", T,
       "config:test_priority_range",
       "vrrpd takes priority 255 as the statement that this router owns the addresses; it "
       "does not check that they are the interface's own (it adds them when Master)."),
    _e("§5.2.4", "MUST: the address owner advertises priority 255.", T,
       "transmit:test_owner_advertises_priority_255"),
    _e("§5.2.5", "Count IPvX Addrs is the number of addresses carried (minimum 1).", T,
       "transmit:test_advert_count_is_number_of_addresses"),
    _e("§7.1 (erratum 8299)", "MUST discard: IPvX Addr Count is zero (§5.2.5).", T,
       "receive:test_count_zero_discarded"),
    _e("§5.2.6", "MUST set the reserved bits to zero on transmission.", T,
       "transmit:test_advert_reserved_bits_zero"),
    _e("§5.2.6", "MUST ignore the reserved bits on reception.", T,
       "receive:test_reserved_bits_ignored"),
    _e("§5.2.7", "Max Adver Int is the configured Advertisement_Interval in centiseconds.", T,
       "transmit:test_advert_interval_in_centiseconds"),
    _e("§7.1 (erratum 8301)", "MUST discard: Max Adver Int is zero.", T,
       "receive:test_interval_zero_discarded",
       "With the reserved bits set too: they are ignored, the 12-bit interval is 0."),
    _e("§5.2.8", "The checksum is valid; default form: RFC 5798 with the pseudo-header.", D,
       "transmit:test_advert_checksum_rfc5798_form",
       "RFC 9568 drops the IPv4 pseudo-header. vrrpd sends the RFC 5798 form by default "
       "because keepalived 2.2.7 and FRR 8.4.4 send it and expect it; checksum = \"rfc9568\" "
       "sends the RFC 9568 form (next entry)."),
    _e("§5.2.8 (RFC 9568)", "IPv4 checksum over the VRRP message only, when configured.", T,
       "transmit:test_advert_checksum_rfc9568_form"),
    _e("§5.2.8", "The checksum includes the IPv6 pseudo-header.", T,
       "ipv6:test_v6_checksum_pseudo_header"),
    _e("§5.2.8", "Accept both IPv4 checksum forms: RFC 5798 pseudo-header, RFC 9568 message "
       "only.", T, "receive:test_both_checksum_forms_accepted",
       "Interoperability: each form is counted (checksum_rfc5798 / checksum_rfc9568)."),
    _e("§7.1", "MUST verify the VRRP checksum: discard on mismatch.", T,
       "receive:test_bad_checksum_discarded"),
    _e("§7.1", "MUST verify the checksum (IPv6: pseudo-header form only).", T,
       "ipv6:test_v6_checksum_verified", "The message-only form is discarded for IPv6."),
    _e("§5.2.9", "The address list is the virtual router's IPv4 addresses.", T,
       "transmit:test_advert_addresses_are_the_vips"),
    _e("§5.2.9", "MUST: the first address is the virtual router's IPv6 link-local address.", T,
       "ipv6:test_v6_first_address_link_local",
       "Derived from the virtual MAC when not configured (fe80::200:5eff:fe00:2XX)."),
    _e("§7.1 (erratum 8300)", "MUST discard IPv6 adverts whose first address is not "
       "link-local.", D, "ipv6:test_v6_first_address_not_link_local_accepted",
       "keepalived 2.2.7 configured with global VIPs only sends such lists; discarding them "
       "would make both routers Master. Accepted, counted as address_list_mismatch, logged."),
    # --- §6.1 parameters ------------------------------------------------------------------
    _e("§6.1 (erratum 8301)", "Advertisement_Interval is configurable in 1-4095 "
       "centiseconds.", T, "config:test_advertisement_interval_range"),
    _e("§6.1", "Defaults: Priority 100, Advertisement_Interval 100 cs, Preempt_Mode True.", T,
       "config:test_defaults_priority_interval_preempt"),
    _e("§6.1", "Accept_Mode default is False: vrrpd defaults to True.", D,
       "config:test_accept_mode_default",
       "On Linux the VIP is mostly a service address (keepalived accepts by default too); a "
       "migrated configuration must not silently drop all traffic to it. accept_mode = false "
       "conforms (test_l2)."),
    _e("§6.1", "MUST: the first IPv6 address of a virtual router is its link-local address.", T,
       "config:test_ipv6_first_address_link_local"),
    # --- §6.4.1 Initialize ----------------------------------------------------------------
    _e("§6.4.1", "MUST: the owner (priority 255) sends an advert and becomes Master at "
       "startup.", T, "transmit:test_owner_master_at_startup_without_waiting"),
    _e("§6.4.1", "MUST: a non-owner starts Backup, Master_Down_Timer = Master_Down_Interval.", T,
       "transmit:test_non_owner_waits_master_down_interval"),
    _e("§6.4.1/§6.4.2", "MUST broadcast a gratuitous ARP for each VIP on becoming Master.", T,
       "transmit:test_gratuitous_arp_on_becoming_master",
       "garp_repeat (default 5) rounds, like keepalived."),
    _e("§6.4.1", "The gratuitous ARP carries the virtual MAC: not by default (use_vmac = "
       "false).", D, "transmit:test_gratuitous_arp_physical_mac_by_default", NO_VMAC),
    _e("§6.4.1/§6.4.2", "MUST broadcast gratuitous ARP with the virtual MAC on becoming "
       "Master.", T, "l2:test_gratuitous_arp_carries_vmac", "With use_vmac = true."),
    _e("§6.4.1/§6.4.2", "MUST send unsolicited NAs (R=1, S=0, O=1) on becoming Master.", T,
       "ipv6:test_v6_unsolicited_na_on_master"),
    _e("§6.4.1", "The NA's target link-layer address is the virtual MAC: not by default.", D,
       "ipv6:test_v6_na_physical_mac_by_default", NO_VMAC),
    _e("§6.4.1", "The NA's target link-layer address is the virtual MAC (use_vmac = true).", T,
       "ipv6:test_v6_na_carries_vmac"),
    # --- §6.4.2 Backup --------------------------------------------------------------------
    _e("§6.4.2", "MUST NOT respond to ARP requests for the VIPs while Backup.", T,
       "transmit:test_backup_does_not_answer_arp_for_vips"),
    _e("§6.4.2", "MUST NOT respond to Neighbor Solicitations for the IPv6 VIPs while Backup.", T,
       "ipv6:test_v6_backup_does_not_answer_ns"),
    _e("§6.4.2", "MUST NOT send ND Router Advertisements for the virtual router while Backup.",
       T, "ipv6:test_v6_backup_sends_no_router_advertisements",
       "With router_advertisements off (the default) vrrpd sends none at all; on, only the "
       "Master does (next entries)."),
    _e("§6.4.2", "MUST discard packets sent to the virtual MAC while Backup.", T,
       "vmac_backup:test_backup_discards_frames_to_the_virtual_mac",
       "With use_vmac the macvlan is down while Backup (the kernel drops frames for it) and "
       "up while Master. The lab's learning bridge never delivers such frames to a Backup, so "
       "the test checks the macvlan's state."),
    _e("§6.4.2", "MUST NOT accept packets addressed to the VIPs while Backup.", T,
       "l2:test_backup_does_not_accept_vip_traffic"),
    _e("§6.4.2", "A Backup sends no advertisements (only the Master does, §6.4.3).", T,
       "transmit:test_backup_sends_no_adverts"),
    _e("§6.4.2", "Shutdown in Backup: cancel Master_Down_Timer, go Initialize, send nothing.", T,
       "transmit:test_backup_shutdown_sends_nothing"),
    _e("§6.4.2", "MUST: when Master_Down_Timer fires, advertise, announce and become Master.", T,
       "backup:test_master_down_timer_fires"),
    _e("§6.4.2", "MUST: on a priority-0 advert set the Master_Down_Timer to Skew_Time.", T,
       "backup:test_backup_priority_0_sets_skew_time"),
    _e("§6.4.2", "MUST learn Master_Adver_Interval from an accepted advert and reset the "
       "timer.", T, "backup:test_backup_learns_master_adver_interval"),
    _e("§6.4.2", "MUST accept an advert of priority >= local and reset Master_Down_Timer.", T,
       "backup:test_backup_follows_equal_priority"),
    _e("§6.4.2", "Preempt_Mode True: MUST discard a lower priority, then preempt.", T,
       "backup:test_backup_preempts_lower_priority",
       "preempt_delay (not in the RFC, default 0) can postpone this. On preempting, vrrpd "
       "adds and announces the addresses before its first advertisement (as vrrpctl takeover "
       "does; §6.4.2 lists the advertisement first): the old Master drops them when it hears "
       "that advertisement, so no instant is left without a holder. When the Master went "
       "silent or sent priority 0, the advertisement goes first, as listed."),
    _e("§6.4.2", "Preempt_Mode False: MUST accept a lower priority and reset the timer.", T,
       "backup:test_no_preempt_follows_lower_priority"),
    # --- §6.4.3 Master --------------------------------------------------------------------
    _e("§6.4.3", "MUST respond to ARP requests for the IPv4 VIPs.", T,
       "transmit:test_master_answers_arp_for_vips"),
    _e("§6.4.3", "MUST respond to Neighbor Solicitations for the IPv6 VIPs.", T,
       "ipv6:test_v6_master_answers_ns"),
    _e("§6.4.3", "MUST join the Solicited-Node multicast group of each IPv6 VIP.", T,
       "ipv6:test_v6_solicited_node_membership", "The kernel joins when the VIP is added."),
    _e("§6.4.3", "MUST send ND Router Advertisements for the virtual router.", D,
       "ra:test_master_sends_router_advertisements_backup_none",
       "With router_advertisements = true (IPv6): from the virtual router's link-local address "
       "and MAC, lifetime 1800 s, each virtual prefix on-link (A=0), at start and every 200 s; "
       "lifetime 0 when leaving Master. Off by default: a host that runs vrrpd for a service "
       "address must not become its neighbours' default router. Router Solicitations are not "
       "answered (the next periodic RA comes within 200 s)."),
    _e("§6.4.2", "A Backup with router_advertisements on sends none (only the Master does).", T,
       "ra:test_backup_sends_no_router_advertisement"),
    _e("§6.4.3", "Accept_Mode False: MUST NOT drop Neighbor Solicitations and "
       "Advertisements.", T, "ipv6:test_v6_accept_mode_false_keeps_nd"),
    _e("§6.4.3", "MUST accept and forward packets sent to the virtual MAC (accepted here).", T,
       "l2:test_master_accepts_frames_to_vmac",
       "Local delivery through the virtual MAC is tested; forwarding is the kernel's "
       "(ip_forward) and not exercised by the lab."),
    _e("§6.4.3", "MUST accept packets addressed to the VIPs when Accept_Mode is True.", T,
       "l2:test_accept_mode_true_accepts"),
    _e("§6.4.3", "MUST NOT accept packets to the VIPs when neither owner nor Accept_Mode True.",
       T, "l2:test_accept_mode_false_drops", "An nftables table inet vrrpd drops them."),
    _e("§6.4.3", "With Accept_Mode False the Master MUST still answer ARP for the VIPs.", T,
       "l2:test_accept_mode_false_answers_arp"),
    _e("§6.4.3", "MUST accept packets to the VIPs when it is the address owner.", T,
       "l2:test_owner_accepts_with_accept_mode_false"),
    _e("§6.4.3", "Shutdown: MUST cancel Adver_Timer and send one advert with priority 0.", T,
       "transmit:test_master_shutdown_sends_priority_0"),
    _e("§6.4.3", "Adver_Timer: the Master sends an advert every Advertisement_Interval.", T,
       "transmit:test_master_advertises_every_interval"),
    _e("§6.4.3", "MUST: on a priority-0 advert, send an advert at once and reset the "
       "Adver_Timer.", T, "master:test_priority_0_answered_at_once"),
    _e("§6.4.3", "MUST: on a higher priority, go Backup and learn Master_Adver_Interval.", T,
       "master:test_higher_priority_makes_master_backup"),
    _e("§6.4.3", "MUST: equal priority from a greater primary address: go Backup.", T,
       "master:test_equal_priority_higher_address_makes_master_backup"),
    _e("§6.4.3", "Equal priority from a lower primary address: the Master stays Master.", T,
       "master:test_equal_priority_lower_address_stays_master"),
    _e("§6.4.3 (RFC 9568)", "A Master discards a lower-priority advert and advertises at "
       "once.", T, "master:test_lower_priority_answered_at_once",
       "vrrpd also re-announces (gratuitous ARP / NA): two Masters means a split brain healed. "
       "At most once per Advertisement_Interval (re-announcing at most once a second), so a "
       "sender of lower-priority adverts cannot make a Master an amplifier."),
    _e("§6.4.3", "MUST go Backup on a higher-priority advert: the control for every discard "
       "test.", T, "receive:test_valid_advert_accepted_control",
       "The same advert as in the discard tests, every field right, is accepted."),
    # --- §7.1 receiving -------------------------------------------------------------------
    _e("§7.1", "MUST discard: the packet does not contain the complete VRRP message.", T,
       "receive:test_incomplete_packet_discarded",
       "Fails: vrrpd discards them, but discard_length in status hides every length "
       "discard that names a configured VRID (the interface counter overwrites the virtual "
       "router's, vrrpd/daemon.py Router.status)."),
    _e("§7.1", "A message longer than its count says is discarded (stricter than required).",
       D, "receive:test_longer_than_count_discarded",
       "vrrpd requires the exact length. Fails for the same status bug as the entry above."),
    _e("§7.1", "MUST discard: VRID not configured on the receiving interface.", T,
       "receive:test_vrid_not_configured_discarded"),
    _e("§7.1 (erratum 8298)", "An address owner processes adverts: two owners resolve by "
       "address.", T, "master:test_owner_processes_adverts",
       "RFC 5798 had the owner discard every advert. The erratum's text was not in the "
       "reference corpus; entry per RFC-NOTES.md and vrrpd's FSM tests."),
    _e("§7.1", "MUST drop a non-owner advert whose address list differs (if checked).", D,
       "receive:test_address_list_mismatch_accepted_and_counted",
       "The check is a MAY; vrrpd does it only to count and log (address_list_mismatch, once "
       "per sender): dropping makes both routers Master while a VIP is added on one first."),
    _e("§7.1", "SHOULD log (rate-limited) each discarded packet.", D, None,
       "Discards are logged at debug level only and counted per reason (discard_*): junk on "
       "the wire must not flood the log."),
    # --- §7.2-§7.4 ------------------------------------------------------------------------
    _e("§7.2", "MUST use the virtual MAC as source MAC: not by default (use_vmac = false).", D,
       "transmit:test_advert_source_mac_is_interface_mac_by_default", NO_VMAC),
    _e("§7.2", "MUST send adverts with the virtual MAC as source MAC (use_vmac = true).", T,
       "l2:test_vmac_advert_source"),
    _e("§7.3", "The IPv4 virtual MAC is 00-00-5E-00-01-{VRID}.", T, "l2:test_vmac_format_ipv4"),
    _e("§7.3", "The IPv6 virtual MAC is 00-00-5E-00-02-{VRID}.", T, "ipv6:test_v6_vmac_format"),
    _e("§7.4", "MUST NOT form interface identifiers from the virtual MAC.", T,
       "ipv6:test_v6_no_interface_identifier_from_vmac",
       "The macvlan has addr_gen_mode none. The virtual router's own link-local (a VIP) is "
       "derived from the virtual MAC on purpose and held by the Master only."),
    # --- §8 operational issues ------------------------------------------------------------
    _e("§8.1.1", "ICMP redirects: the redirect source must be the virtual router's address.",
       N, None,
       "vrrpd does not touch ICMP redirects; Linux sends them from its own address. Turn "
       "send_redirects off on forwarding routers."),
    _e("§8.1.2", "MUST answer ARP with the virtual MAC: not by default (use_vmac = false).", D,
       "transmit:test_arp_reply_physical_mac_by_default", NO_VMAC),
    _e("§8.1.2", "MUST answer ARP for a VIP with the virtual MAC, MUST NOT with the physical.",
       T, "l2:test_arp_reply_carries_vmac", "With use_vmac = true (arp_ignore=1 on the parent)."),
    _e("§8.1.3", "Proxy ARP must answer with the virtual MAC.", X, None,
       "vrrpd does no proxy ARP."),
    _e("§8.2.1", "ICMPv6 redirects: the redirect source must be the virtual router's address.",
       N, None, "As §8.1.1: vrrpd does not touch redirects."),
    _e("§8.2.2", "MUST answer NS with the virtual MAC: not by default (use_vmac = false).", D,
       "ipv6:test_v6_ns_answer_physical_mac_by_default", NO_VMAC),
    _e("§8.2.2", "MUST answer NS for a VIP with the virtual MAC, MUST NOT with the physical.",
       T, "ipv6:test_v6_answers_ns_with_vmac", "With use_vmac = true."),
    _e("§8.2.3", "Backups MUST be configured to send the same Router Advertisement options.",
       X, None, "vrrpd builds the RA from the virtual router's own configuration (its "
       "link-local address and virtual prefixes), the same on every router of the VRID."),
    _e("§8.3.1", "A non-owner Master SHOULD NOT forward packets addressed to the VIPs.", X,
       None, "The Master holds the VIPs as local addresses: packets to them are delivered "
       "locally (or dropped with accept_mode = false), never forwarded."),
    _e("§8.4.2", "Dual VRRPv2/VRRPv3 mode: a Master MUST send both versions.", X, None,
       "The optional dual mode (a MAY) is not implemented: a virtual router speaks one "
       "version."),
    # --- RFC 3768 (VRRPv2) where it differs ---------------------------------------------
    _e("RFC 3768 §5.2.2/§5.2.3", "MUST send to 224.0.0.18 with TTL 255.", T,
       "v2:test_v2_ttl_255_to_group"),
    _e("RFC 3768 §5.3.1/§5.3.2", "Version 2, type 1 (ADVERTISEMENT).", T,
       "v2:test_v2_version_2_type_1"),
    _e("RFC 3768 §5.3.7", "Adver Int is the advertisement interval in seconds.", T,
       "v2:test_v2_interval_in_seconds"),
    _e("RFC 3768 §5.3.8", "The checksum covers the VRRP message only (no pseudo-header).", T,
       "v2:test_v2_checksum_over_message_only"),
    _e("RFC 3768 §5.3.6/§5.3.10", "Auth Type 0; Authentication Data zero on transmission.", T,
       "v2:test_v2_no_authentication_zero_data"),
    _e("RFC 3768 §5.3.6", "Auth Types 1 and 2 are reserved: vrrpd sends type 1 with "
       "auth_pass.", D, "v2:test_v2_simple_text_password_sent",
       "RFC 2338 simple text, for keepalived peers that use auth_pass. Not security."),
    _e("RFC 3768 §7.1", "MUST discard: IP TTL not 255.", T, "v2:test_v2_ttl_not_255_discarded"),
    _e("RFC 3768 §7.1", "MUST discard: version not 2 (a VRRPv3 advert).", T,
       "v2:test_v2_version_not_2_discarded"),
    _e("RFC 3768 §7.1", "MUST discard: Adver Interval differs from the configured one.", T,
       "v2:test_v2_interval_mismatch_discarded"),
    _e("RFC 3768 §7.1", "MUST verify the checksum (message only): discard a mismatch.", T,
       "v2:test_v2_checksum_verified", "The v3 pseudo-header form is a mismatch for v2."),
    _e("RFC 3768 §5.3.6", "MUST discard: an auth type not matching the configured method.", T,
       "v2:test_v2_auth_type_mismatch_discarded", "A wrong simple-text password too."),
    _e("RFC 3768 §5.3.10", "Authentication Data is ignored on reception (Auth Type 0).", T,
       "v2:test_v2_auth_data_ignored_without_authentication"),
    _e("RFC 2338 §5.3.6", "A matching simple-text password is accepted (control).", T,
       "v2:test_v2_matching_password_accepted"),
    _e("RFC 3768 §6.4.3", "MUST go Backup on a higher priority: the control for the "
       "discards.", T, "v2:test_v2_valid_advert_accepted_control"),
    _e("RFC 3768 §7.1", "MUST discard adverts received by the address owner.", D, None,
       "vrrpd applies RFC 9568 erratum 8298 to VRRPv2 too: the owner processes adverts."),
    _e("RFC 3768 §6.4.3", "A Master silently discards a lower-priority advert.", D, None,
       "vrrpd applies RFC 9568 to VRRPv2 too: it advertises at once (one extra advert)."),
]  # fmt: skip
