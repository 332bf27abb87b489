/* SPDX-License-Identifier: MIT */
/*
 * Authentication of management requests (see mgmt.h): the MAC is lower-case hex of
 * HMAC-SHA256(cluster secret, "roomcast-mgmt-v1" NUL node NUL time NUL METHOD NUL PATH NUL
 * body) (hmac.h), compared in constant time.
 * Also the small syntax checks shared by the server and the client (node ids, document
 * names, "IP:PORT").
 *
 * Verification order: syntax (-EBADMSG), the MAC (-EKEYREJECTED), then the clock
 * (-EKEYEXPIRED): a stale request is only reported as such when it is genuine.
 *
 * Threads: reentrant.
 */
#include "mgmt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmac.h"

#define MGMT_DOMAIN "roomcast-mgmt-v1" /* hashed with its NUL */
#define TIME_DIGITS 20

bool
rc_mgmt_node_id_ok(const char *id)
{
	size_t i;

	if (id == NULL || id[0] == '\0')
		return false;
	for (i = 0; id[i] != '\0'; i++) {
		char c = id[i];

		if (i >= RC_MGMT_NODE_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

bool
rc_mgmt_name_ok(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0')
		return false;
	for (i = 0; name[i] != '\0'; i++) {
		char c = name[i];

		if (i >= RC_MGMT_NAME_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

int
rc_mgmt_parse_addr(const char *addr, uint32_t *ip, uint16_t *port)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = addr != NULL ? strrchr(addr, ':') : NULL;
	struct in_addr a;
	unsigned long p;
	char *end;

	if (colon == NULL || colon == addr || (size_t)(colon - addr) >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, colon - addr);
	host[colon - addr] = '\0';
	if (inet_pton(AF_INET, host, &a) != 1)
		return -EINVAL;
	if (colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || p > 65535 || end - (colon + 1) > 5)
		return -EINVAL;
	*ip = a.s_addr;
	*port = (uint16_t)p;
	return 0;
}

/* s with its NUL, as the MAC hashes every string field. */
static struct rc_hmac_part
str_part(const char *s)
{
	return (struct rc_hmac_part){ s, strlen(s) + 1 };
}

int
rc_mgmt_sign(const uint8_t *secret, size_t secret_len, const char *node, uint64_t time,
	     const char *method, const char *path, const void *body, size_t len,
	     char hex[RC_MGMT_MAC_HEX + 1])
{
	char t[TIME_DIGITS + 1];
	uint8_t mac[RC_HMAC_SHA256_LEN];
	int rc;

	if (secret == NULL || secret_len == 0 || !rc_mgmt_node_id_ok(node) || method == NULL ||
	    path == NULL || (body == NULL && len != 0))
		return -EINVAL;
	snprintf(t, sizeof(t), "%llu", (unsigned long long)time);
	const struct rc_hmac_part parts[] = {
		str_part(MGMT_DOMAIN), str_part(node), str_part(t), str_part(method),
		str_part(path),	       { body, len },
	};

	rc = rc_hmac_sha256(secret, secret_len, parts, sizeof(parts) / sizeof(parts[0]), mac);
	if (rc == 0)
		rc_hex(hex, mac, sizeof(mac));
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

/* Canonical decimal (no sign, no leading zero, at most 20 digits) into *v. */
static bool
parse_time(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	size_t n;

	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++) {
		unsigned d = s[n] - '0';

		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	if (n == 0 || s[n] != '\0' || n > TIME_DIGITS || (n > 1 && s[0] == '0'))
		return false;
	*v = x;
	return true;
}

static bool
mac_syntax_ok(const char *mac)
{
	size_t i;

	for (i = 0; i < RC_MGMT_MAC_HEX; i++)
		if (!((mac[i] >= '0' && mac[i] <= '9') || (mac[i] >= 'a' && mac[i] <= 'f')))
			return false;
	return mac[i] == '\0';
}

int
rc_mgmt_verify(const uint8_t *secret, size_t secret_len, const char *node, const char *time,
	       const char *method, const char *path, const void *body, size_t len,
	       const char *mac, uint64_t now)
{
	char hex[RC_MGMT_MAC_HEX + 1];
	uint64_t t;

	if (node == NULL || time == NULL || mac == NULL)
		return -EBADMSG;
	if (!rc_mgmt_node_id_ok(node) || !parse_time(time, &t) || !mac_syntax_ok(mac))
		return -EBADMSG;
	if (rc_mgmt_sign(secret, secret_len, node, t, method, path, body, len, hex) != 0)
		return -EKEYREJECTED; /* fail closed */
	if (CRYPTO_memcmp(hex, mac, RC_MGMT_MAC_HEX) != 0)
		return -EKEYREJECTED;
	if ((t > now ? t - now : now - t) > RC_MGMT_SKEW_S)
		return -EKEYEXPIRED;
	return 0;
}

int
rc_mgmt_verify_any(const uint8_t *secret, size_t secret_len, const struct rc_keyring *accept,
		   const char *node, const char *time, const char *method, const char *path,
		   const void *body, size_t len, const char *mac, uint64_t now)
{
	int rc = rc_mgmt_verify(secret, secret_len, node, time, method, path, body, len, mac, now);

	for (unsigned i = 0; rc == -EKEYREJECTED && accept != NULL && i < accept->n; i++)
		if (rc_mgmt_verify(accept->k[i].key, accept->k[i].len, node, time, method, path,
				   body, len, mac, now) == 0)
			return 0;
	return rc;
}
