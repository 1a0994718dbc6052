/*
 * Prints, as JSON, sizeof and offsetof of every PF_KEY v2 struct (RFC 2367,
 * <linux/pfkeyv2.h>) and sockaddr that src/kernel/pfkey encodes or decodes.
 * test/unit/kernel/pfkey-layout.test.ts compiles and runs this and compares
 * it with src/kernel/pfkey/layout.ts.
 */
#include <stddef.h>
#include <stdio.h>
#include <netinet/in.h>
#include <linux/pfkeyv2.h>
#include <linux/ipsec.h>

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
	S(sadb_msg); F(sadb_msg, sadb_msg_version); F(sadb_msg, sadb_msg_type); F(sadb_msg, sadb_msg_errno);
	F(sadb_msg, sadb_msg_satype); F(sadb_msg, sadb_msg_len); F(sadb_msg, sadb_msg_reserved);
	F(sadb_msg, sadb_msg_seq); F(sadb_msg, sadb_msg_pid); end();
	S(sadb_ext); F(sadb_ext, sadb_ext_len); F(sadb_ext, sadb_ext_type); end();
	S(sadb_sa); F(sadb_sa, sadb_sa_spi); F(sadb_sa, sadb_sa_replay); F(sadb_sa, sadb_sa_state);
	F(sadb_sa, sadb_sa_auth); F(sadb_sa, sadb_sa_encrypt); F(sadb_sa, sadb_sa_flags); end();
	S(sadb_lifetime); F(sadb_lifetime, sadb_lifetime_allocations); F(sadb_lifetime, sadb_lifetime_bytes);
	F(sadb_lifetime, sadb_lifetime_addtime); F(sadb_lifetime, sadb_lifetime_usetime); end();
	S(sadb_address); F(sadb_address, sadb_address_proto); F(sadb_address, sadb_address_prefixlen);
	F(sadb_address, sadb_address_reserved); end();
	S(sadb_key); F(sadb_key, sadb_key_bits); F(sadb_key, sadb_key_reserved); end();
	S(sadb_spirange); F(sadb_spirange, sadb_spirange_min); F(sadb_spirange, sadb_spirange_max);
	F(sadb_spirange, sadb_spirange_reserved); end();
	S(sadb_x_sa2); F(sadb_x_sa2, sadb_x_sa2_mode); F(sadb_x_sa2, sadb_x_sa2_reserved1);
	F(sadb_x_sa2, sadb_x_sa2_reserved2); F(sadb_x_sa2, sadb_x_sa2_sequence); F(sadb_x_sa2, sadb_x_sa2_reqid); end();
	S(sadb_x_policy); F(sadb_x_policy, sadb_x_policy_type); F(sadb_x_policy, sadb_x_policy_dir);
	F(sadb_x_policy, sadb_x_policy_reserved); F(sadb_x_policy, sadb_x_policy_id);
	F(sadb_x_policy, sadb_x_policy_priority); end();
	S(sadb_x_ipsecrequest); F(sadb_x_ipsecrequest, sadb_x_ipsecrequest_len);
	F(sadb_x_ipsecrequest, sadb_x_ipsecrequest_proto); F(sadb_x_ipsecrequest, sadb_x_ipsecrequest_mode);
	F(sadb_x_ipsecrequest, sadb_x_ipsecrequest_level); F(sadb_x_ipsecrequest, sadb_x_ipsecrequest_reserved1);
	F(sadb_x_ipsecrequest, sadb_x_ipsecrequest_reqid); F(sadb_x_ipsecrequest, sadb_x_ipsecrequest_reserved2); end();
	S(sadb_x_nat_t_type); F(sadb_x_nat_t_type, sadb_x_nat_t_type_type); end();
	S(sadb_x_nat_t_port); F(sadb_x_nat_t_port, sadb_x_nat_t_port_port); end();
	S(sockaddr_in); F(sockaddr_in, sin_family); F(sockaddr_in, sin_port); F(sockaddr_in, sin_addr); end();
	S(sockaddr_in6); F(sockaddr_in6, sin6_family); F(sockaddr_in6, sin6_port); F(sockaddr_in6, sin6_flowinfo);
	F(sockaddr_in6, sin6_addr); F(sockaddr_in6, sin6_scope_id); end();
	printf(",\n  \"constants\": { \"IPSEC_MANUAL_REQID_MAX\": %d, \"SADB_X_EXT_NAT_T_OA\": %d, \"SADB_EXT_MAX\": %d }",
	       IPSEC_MANUAL_REQID_MAX, SADB_X_EXT_NAT_T_OA, SADB_EXT_MAX);
	printf("\n}\n");
	return 0;
}
