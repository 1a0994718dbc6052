/*
 * Prints, as JSON, sizeof and offsetof of every Linux UAPI struct that
 * src/kernel/xfrm encodes or decodes.  test/unit/kernel/layout.test.ts
 * compiles and runs this and compares it with src/kernel/xfrm/layout.ts.
 */
#include <stddef.h>
#include <stdio.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>

static int first_struct = 1;

static void begin(const char *name, size_t size)
{
	printf("%s\n  \"%s\": { \"size\": %zu", first_struct ? "" : ",", name, size);
	first_struct = 0;
}

static void field(const char *name, size_t off)
{
	printf(", \"%s\": %zu", name, off);
}

static void end(void) { printf(" }"); }

#define S(t) begin(#t, sizeof(struct t))
#define F(t, f) field(#f, offsetof(struct t, f))

int main(void)
{
	printf("{");
	S(nlmsghdr); F(nlmsghdr, nlmsg_len); F(nlmsghdr, nlmsg_type); F(nlmsghdr, nlmsg_flags);
	F(nlmsghdr, nlmsg_seq); F(nlmsghdr, nlmsg_pid); end();
	S(nlattr); F(nlattr, nla_len); F(nlattr, nla_type); end();
	S(nlmsgerr); F(nlmsgerr, error); F(nlmsgerr, msg); end();
	S(sockaddr_nl); F(sockaddr_nl, nl_family); F(sockaddr_nl, nl_pid); F(sockaddr_nl, nl_groups); end();
	S(xfrm_selector); F(xfrm_selector, daddr); F(xfrm_selector, saddr); F(xfrm_selector, dport);
	F(xfrm_selector, dport_mask); F(xfrm_selector, sport); F(xfrm_selector, sport_mask);
	F(xfrm_selector, family); F(xfrm_selector, prefixlen_d); F(xfrm_selector, prefixlen_s);
	F(xfrm_selector, proto); F(xfrm_selector, ifindex); F(xfrm_selector, user); end();
	S(xfrm_id); F(xfrm_id, daddr); F(xfrm_id, spi); F(xfrm_id, proto); end();
	S(xfrm_lifetime_cfg); F(xfrm_lifetime_cfg, soft_byte_limit); F(xfrm_lifetime_cfg, hard_byte_limit);
	F(xfrm_lifetime_cfg, soft_packet_limit); F(xfrm_lifetime_cfg, hard_packet_limit);
	F(xfrm_lifetime_cfg, soft_add_expires_seconds); F(xfrm_lifetime_cfg, hard_add_expires_seconds);
	F(xfrm_lifetime_cfg, soft_use_expires_seconds); F(xfrm_lifetime_cfg, hard_use_expires_seconds); end();
	S(xfrm_lifetime_cur); F(xfrm_lifetime_cur, bytes); F(xfrm_lifetime_cur, packets);
	F(xfrm_lifetime_cur, add_time); F(xfrm_lifetime_cur, use_time); end();
	S(xfrm_stats); F(xfrm_stats, replay_window); F(xfrm_stats, replay); F(xfrm_stats, integrity_failed); end();
	S(xfrm_usersa_info); F(xfrm_usersa_info, sel); F(xfrm_usersa_info, id); F(xfrm_usersa_info, saddr);
	F(xfrm_usersa_info, lft); F(xfrm_usersa_info, curlft); F(xfrm_usersa_info, stats);
	F(xfrm_usersa_info, seq); F(xfrm_usersa_info, reqid); F(xfrm_usersa_info, family);
	F(xfrm_usersa_info, mode); F(xfrm_usersa_info, replay_window); F(xfrm_usersa_info, flags); end();
	S(xfrm_usersa_id); F(xfrm_usersa_id, daddr); F(xfrm_usersa_id, spi); F(xfrm_usersa_id, family);
	F(xfrm_usersa_id, proto); end();
	S(xfrm_userspi_info); F(xfrm_userspi_info, info); F(xfrm_userspi_info, min); F(xfrm_userspi_info, max); end();
	S(xfrm_userpolicy_info); F(xfrm_userpolicy_info, sel); F(xfrm_userpolicy_info, lft);
	F(xfrm_userpolicy_info, curlft); F(xfrm_userpolicy_info, priority); F(xfrm_userpolicy_info, index);
	F(xfrm_userpolicy_info, dir); F(xfrm_userpolicy_info, action); F(xfrm_userpolicy_info, flags);
	F(xfrm_userpolicy_info, share); end();
	S(xfrm_userpolicy_id); F(xfrm_userpolicy_id, sel); F(xfrm_userpolicy_id, index); F(xfrm_userpolicy_id, dir); end();
	S(xfrm_user_tmpl); F(xfrm_user_tmpl, id); F(xfrm_user_tmpl, family); F(xfrm_user_tmpl, saddr);
	F(xfrm_user_tmpl, reqid); F(xfrm_user_tmpl, mode); F(xfrm_user_tmpl, share); F(xfrm_user_tmpl, optional);
	F(xfrm_user_tmpl, aalgos); F(xfrm_user_tmpl, ealgos); F(xfrm_user_tmpl, calgos); end();
	S(xfrm_algo); F(xfrm_algo, alg_name); F(xfrm_algo, alg_key_len); F(xfrm_algo, alg_key); end();
	S(xfrm_algo_auth); F(xfrm_algo_auth, alg_name); F(xfrm_algo_auth, alg_key_len);
	F(xfrm_algo_auth, alg_trunc_len); F(xfrm_algo_auth, alg_key); end();
	S(xfrm_algo_aead); F(xfrm_algo_aead, alg_name); F(xfrm_algo_aead, alg_key_len);
	F(xfrm_algo_aead, alg_icv_len); F(xfrm_algo_aead, alg_key); end();
	S(xfrm_encap_tmpl); F(xfrm_encap_tmpl, encap_type); F(xfrm_encap_tmpl, encap_sport);
	F(xfrm_encap_tmpl, encap_dport); F(xfrm_encap_tmpl, encap_oa); end();
	S(xfrm_mark); F(xfrm_mark, v); F(xfrm_mark, m); end();
	S(xfrm_user_expire); F(xfrm_user_expire, state); F(xfrm_user_expire, hard); end();
	S(xfrm_user_polexpire); F(xfrm_user_polexpire, pol); F(xfrm_user_polexpire, hard); end();
	S(xfrm_user_acquire); F(xfrm_user_acquire, id); F(xfrm_user_acquire, saddr); F(xfrm_user_acquire, sel);
	F(xfrm_user_acquire, policy); F(xfrm_user_acquire, aalgos); F(xfrm_user_acquire, ealgos);
	F(xfrm_user_acquire, calgos); F(xfrm_user_acquire, seq); end();
	S(xfrm_user_mapping); F(xfrm_user_mapping, id); F(xfrm_user_mapping, reqid); F(xfrm_user_mapping, old_saddr);
	F(xfrm_user_mapping, new_saddr); F(xfrm_user_mapping, old_sport); F(xfrm_user_mapping, new_sport); end();
	printf("\n}\n");
	return 0;
}
