/**
 * Sizes and field offsets of the PF_KEY v2 structs (RFC 2367 §2.2-§2.3,
 * <linux/pfkeyv2.h>, <linux/ipsec.h>) and the sockaddrs inside sadb_address,
 * x86_64.  Checked against the C compiler by
 * test/unit/kernel/pfkey-layout.test.ts, which builds native/pfkey_layout.c.
 */
export const LAYOUT = {
  sadb_msg: { size: 16, sadb_msg_version: 0, sadb_msg_type: 1, sadb_msg_errno: 2, sadb_msg_satype: 3, sadb_msg_len: 4, sadb_msg_reserved: 6, sadb_msg_seq: 8, sadb_msg_pid: 12 },
  sadb_ext: { size: 4, sadb_ext_len: 0, sadb_ext_type: 2 },
  sadb_sa: { size: 16, sadb_sa_spi: 4, sadb_sa_replay: 8, sadb_sa_state: 9, sadb_sa_auth: 10, sadb_sa_encrypt: 11, sadb_sa_flags: 12 },
  sadb_lifetime: { size: 32, sadb_lifetime_allocations: 4, sadb_lifetime_bytes: 8, sadb_lifetime_addtime: 16, sadb_lifetime_usetime: 24 },
  sadb_address: { size: 8, sadb_address_proto: 4, sadb_address_prefixlen: 5, sadb_address_reserved: 6 },
  sadb_key: { size: 8, sadb_key_bits: 4, sadb_key_reserved: 6 },
  sadb_spirange: { size: 16, sadb_spirange_min: 4, sadb_spirange_max: 8, sadb_spirange_reserved: 12 },
  sadb_x_sa2: { size: 16, sadb_x_sa2_mode: 4, sadb_x_sa2_reserved1: 5, sadb_x_sa2_reserved2: 6, sadb_x_sa2_sequence: 8, sadb_x_sa2_reqid: 12 },
  sadb_x_policy: { size: 16, sadb_x_policy_type: 4, sadb_x_policy_dir: 6, sadb_x_policy_reserved: 7, sadb_x_policy_id: 8, sadb_x_policy_priority: 12 },
  sadb_x_ipsecrequest: { size: 16, sadb_x_ipsecrequest_len: 0, sadb_x_ipsecrequest_proto: 2, sadb_x_ipsecrequest_mode: 4, sadb_x_ipsecrequest_level: 5, sadb_x_ipsecrequest_reserved1: 6, sadb_x_ipsecrequest_reqid: 8, sadb_x_ipsecrequest_reserved2: 12 },
  sadb_x_nat_t_type: { size: 8, sadb_x_nat_t_type_type: 4 },
  sadb_x_nat_t_port: { size: 8, sadb_x_nat_t_port_port: 4 },
  sockaddr_in: { size: 16, sin_family: 0, sin_port: 2, sin_addr: 4 },
  sockaddr_in6: { size: 28, sin6_family: 0, sin6_port: 2, sin6_flowinfo: 4, sin6_addr: 8, sin6_scope_id: 24 },
  constants: { IPSEC_MANUAL_REQID_MAX: 16383, SADB_X_EXT_NAT_T_OA: 23, SADB_EXT_MAX: 26 },
} as const;
