/**
 * Sizes and field offsets of the Linux UAPI structs we encode (x86_64,
 * <linux/netlink.h>, <linux/xfrm.h>).  Checked against the C compiler by
 * test/unit/kernel/layout.test.ts, which builds native/layout.c.
 */
export const LAYOUT = {
  nlmsghdr: { size: 16, nlmsg_len: 0, nlmsg_type: 4, nlmsg_flags: 6, nlmsg_seq: 8, nlmsg_pid: 12 },
  nlattr: { size: 4, nla_len: 0, nla_type: 2 },
  nlmsgerr: { size: 20, error: 0, msg: 4 },
  sockaddr_nl: { size: 12, nl_family: 0, nl_pid: 4, nl_groups: 8 },
  xfrm_selector: { size: 56, daddr: 0, saddr: 16, dport: 32, dport_mask: 34, sport: 36, sport_mask: 38, family: 40, prefixlen_d: 42, prefixlen_s: 43, proto: 44, ifindex: 48, user: 52 },
  xfrm_id: { size: 24, daddr: 0, spi: 16, proto: 20 },
  xfrm_lifetime_cfg: { size: 64, soft_byte_limit: 0, hard_byte_limit: 8, soft_packet_limit: 16, hard_packet_limit: 24, soft_add_expires_seconds: 32, hard_add_expires_seconds: 40, soft_use_expires_seconds: 48, hard_use_expires_seconds: 56 },
  xfrm_lifetime_cur: { size: 32, bytes: 0, packets: 8, add_time: 16, use_time: 24 },
  xfrm_stats: { size: 12, replay_window: 0, replay: 4, integrity_failed: 8 },
  xfrm_usersa_info: { size: 224, sel: 0, id: 56, saddr: 80, lft: 96, curlft: 160, stats: 192, seq: 204, reqid: 208, family: 212, mode: 214, replay_window: 215, flags: 216 },
  xfrm_usersa_id: { size: 24, daddr: 0, spi: 16, family: 20, proto: 22 },
  xfrm_userspi_info: { size: 232, info: 0, min: 224, max: 228 },
  xfrm_userpolicy_info: { size: 168, sel: 0, lft: 56, curlft: 120, priority: 152, index: 156, dir: 160, action: 161, flags: 162, share: 163 },
  xfrm_userpolicy_id: { size: 64, sel: 0, index: 56, dir: 60 },
  xfrm_user_tmpl: { size: 64, id: 0, family: 24, saddr: 28, reqid: 44, mode: 48, share: 49, optional: 50, aalgos: 52, ealgos: 56, calgos: 60 },
  xfrm_algo: { size: 68, alg_name: 0, alg_key_len: 64, alg_key: 68 },
  xfrm_algo_auth: { size: 72, alg_name: 0, alg_key_len: 64, alg_trunc_len: 68, alg_key: 72 },
  xfrm_algo_aead: { size: 72, alg_name: 0, alg_key_len: 64, alg_icv_len: 68, alg_key: 72 },
  xfrm_encap_tmpl: { size: 24, encap_type: 0, encap_sport: 2, encap_dport: 4, encap_oa: 8 },
  xfrm_mark: { size: 8, v: 0, m: 4 },
  xfrm_user_expire: { size: 232, state: 0, hard: 224 },
  xfrm_user_polexpire: { size: 176, pol: 0, hard: 168 },
  xfrm_user_mapping: { size: 64, id: 0, reqid: 24, old_saddr: 28, new_saddr: 44, old_sport: 60, new_sport: 62 },
  xfrm_user_acquire: { size: 280, id: 0, saddr: 24, sel: 40, policy: 96, aalgos: 264, ealgos: 268, calgos: 272, seq: 276 },
} as const;
