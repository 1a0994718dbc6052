/*
 * Raw-netlink NEWSA baseline for benchmarks.
 *
 *   nl_newsa COUNT ALGORITHM
 *
 * ALGORITHM is a suite name of src/kernel/algorithms.ts (aes-gcm-128,
 * aes-gcm-256, aes-cbc-128-hmac-sha256, aes-cbc-256-hmac-sha256,
 * aes-cbc-128-hmac-sha1, 3des-cbc-hmac-sha1, null-hmac-sha256).  Installs COUNT
 * transport-mode ESP SAs 10.0.0.1 -> 10.0.0.2 (SPI 0x10000 + i, reqid in
 * sipsec's owned range) in the caller's network namespace, one NEWSA with
 * NLM_F_ACK at a time, and prints the latency of each (send to ACK) in
 * nanoseconds, one per line.  Deletes them afterwards.  Exit 1 on any error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REQID 0x5e00beefu

struct suite {
	const char *name, *crypt, *auth, *aead;
	int enc_bytes, auth_bytes, bits; /* bits: ICV or truncation length */
};

static const struct suite suites[] = {
	{ "aes-gcm-128", NULL, NULL, "rfc4106(gcm(aes))", 20, 0, 128 },
	{ "aes-gcm-256", NULL, NULL, "rfc4106(gcm(aes))", 36, 0, 128 },
	{ "aes-cbc-128-hmac-sha256", "cbc(aes)", "hmac(sha256)", NULL, 16, 32, 128 },
	{ "aes-cbc-256-hmac-sha256", "cbc(aes)", "hmac(sha256)", NULL, 32, 32, 128 },
	{ "aes-cbc-128-hmac-sha1", "cbc(aes)", "hmac(sha1)", NULL, 16, 20, 96 },
	{ "3des-cbc-hmac-sha1", "cbc(des3_ede)", "hmac(sha1)", NULL, 24, 20, 96 },
	{ "null-hmac-sha256", "ecb(cipher_null)", "hmac(sha256)", NULL, 0, 32, 128 },
};

static unsigned char buf[8192];
static unsigned int seq = 1;

static void add_attr(struct nlmsghdr *h, int type, const void *data, int len)
{
	struct nlattr *a = (struct nlattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy((char *)a + NLA_HDRLEN, data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

/* Send the message in buf, wait for its ACK; returns 0 or -errno. */
static int transact(int fd)
{
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	unsigned char rx[4096];
	if (send(fd, buf, h->nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(fd, rx, sizeof(rx), 0);
		if (n < 0)
			return -errno;
		for (struct nlmsghdr *r = (struct nlmsghdr *)rx; NLMSG_OK(r, n); r = NLMSG_NEXT(r, n)) {
			if (r->nlmsg_seq != h->nlmsg_seq || r->nlmsg_type != NLMSG_ERROR)
				continue;
			return ((struct nlmsgerr *)NLMSG_DATA(r))->error;
		}
	}
}

static void build_newsa(const struct suite *s, unsigned int spi)
{
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	struct xfrm_usersa_info *p;
	unsigned char key[64];
	unsigned char alg[sizeof(struct xfrm_algo_auth) + 64];

	memset(buf, 0, sizeof(buf));
	h->nlmsg_len = NLMSG_LENGTH(sizeof(*p));
	h->nlmsg_type = XFRM_MSG_NEWSA;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL;
	h->nlmsg_seq = seq++;
	p = NLMSG_DATA(h);
	inet_pton(AF_INET, "10.0.0.1", &p->saddr.a4);
	inet_pton(AF_INET, "10.0.0.2", &p->id.daddr.a4);
	p->sel.saddr.a4 = p->saddr.a4;
	p->sel.daddr.a4 = p->id.daddr.a4;
	p->sel.family = AF_INET;
	p->sel.prefixlen_s = p->sel.prefixlen_d = 32;
	p->id.spi = htonl(spi);
	p->id.proto = IPPROTO_ESP;
	p->family = AF_INET;
	p->mode = XFRM_MODE_TRANSPORT;
	p->reqid = REQID;
	p->replay_window = 32;
	p->lft.soft_byte_limit = p->lft.hard_byte_limit = XFRM_INF;
	p->lft.soft_packet_limit = p->lft.hard_packet_limit = XFRM_INF;
	for (int i = 0; i < (int)sizeof(key); i++)
		key[i] = (unsigned char)(spi + i);

	if (s->aead) {
		struct xfrm_algo_aead *a = (struct xfrm_algo_aead *)alg;
		memset(alg, 0, sizeof(alg));
		strcpy(a->alg_name, s->aead);
		a->alg_key_len = s->enc_bytes * 8;
		a->alg_icv_len = s->bits;
		memcpy(a->alg_key, key, s->enc_bytes);
		add_attr(h, XFRMA_ALG_AEAD, a, sizeof(*a) + s->enc_bytes);
	} else {
		struct xfrm_algo *c = (struct xfrm_algo *)alg;
		struct xfrm_algo_auth *a = (struct xfrm_algo_auth *)alg;
		memset(alg, 0, sizeof(alg));
		strcpy(c->alg_name, s->crypt);
		c->alg_key_len = s->enc_bytes * 8;
		memcpy(c->alg_key, key, s->enc_bytes);
		add_attr(h, XFRMA_ALG_CRYPT, c, sizeof(*c) + s->enc_bytes);
		memset(alg, 0, sizeof(alg));
		strcpy(a->alg_name, s->auth);
		a->alg_key_len = s->auth_bytes * 8;
		a->alg_trunc_len = s->bits;
		memcpy(a->alg_key, key, s->auth_bytes);
		add_attr(h, XFRMA_ALG_AUTH_TRUNC, a, sizeof(*a) + s->auth_bytes);
	}
	memset(alg, 0, sizeof(alg));
	memset(key, 0, sizeof(key));
}

static void build_delsa(unsigned int spi)
{
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	struct xfrm_usersa_id *id;
	memset(buf, 0, sizeof(buf));
	h->nlmsg_len = NLMSG_LENGTH(sizeof(*id));
	h->nlmsg_type = XFRM_MSG_DELSA;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = seq++;
	id = NLMSG_DATA(h);
	inet_pton(AF_INET, "10.0.0.2", &id->daddr.a4);
	id->spi = htonl(spi);
	id->family = AF_INET;
	id->proto = IPPROTO_ESP;
}

int main(int argc, char **argv)
{
	const struct suite *s = NULL;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int count, fd, err, ret = 0, installed = 0;

	if (argc != 3 || (count = atoi(argv[1])) <= 0) {
		fprintf(stderr, "usage: %s COUNT ALGORITHM\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (!strcmp(suites[i].name, argv[2]))
			s = &suites[i];
	if (!s) {
		fprintf(stderr, "unknown algorithm %s\n", argv[2]);
		return 2;
	}
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_XFRM);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("netlink socket");
		return 1;
	}
	for (int i = 0; i < count; i++) {
		struct timespec t0, t1;
		build_newsa(s, 0x10000 + i);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		err = transact(fd);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		memset(buf, 0, sizeof(buf));
		if (err) {
			fprintf(stderr, "NEWSA %d: %s\n", i, strerror(-err));
			ret = 1;
			break;
		}
		installed++;
		printf("%lld\n", (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
	}
	for (int i = 0; i < installed; i++) {
		build_delsa(0x10000 + i);
		if ((err = transact(fd)) != 0) {
			fprintf(stderr, "DELSA %d: %s\n", i, strerror(-err));
			ret = 1;
		}
	}
	close(fd);
	return ret;
}
