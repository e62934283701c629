/*
 * key.c: building the "user NUL name" keys of the mailboxes and
 * subscriptions databases. The big-endian integer packing lives in
 * store_int.h as inline functions; the default btree comparison (memcmp,
 * then length) then walks names in byte order and numbers in numeric order.
 */
#include <string.h>

#include "store_int.h"

enum store_err
store_key_user_name(struct store_key *k, const char *user, const char *name,
    bool allow_empty)
{
	size_t ulen = strlen(user), nlen = strlen(name);

	if (ulen == 0 || ulen > STORE_USER_MAX || nlen > STORE_NAME_MAX ||
	    (nlen == 0 && !allow_empty))
		return STORE_ERR_INVALID;
	memcpy(k->data, user, ulen);
	k->data[ulen] = '\0';
	k->name_off = ulen + 1;
	memcpy(k->data + k->name_off, name, nlen);
	k->len = k->name_off + nlen;
	return STORE_OK;
}

enum store_err
store_key_append(struct store_key *k, const void *p, size_t n)
{
	if (n > sizeof(k->data) - k->len)
		return STORE_ERR_INVALID;
	memcpy(k->data + k->len, p, n);
	k->len += n;
	return STORE_OK;
}

void
store_key_dbt(struct store_key *k, DBT *d)
{
	memset(d, 0, sizeof(*d));
	d->data = k->data;
	d->size = (u_int32_t)k->len;
}

bool
store_key_is_prefix(const struct store_key *k, const DBT *d)
{
	return d->size >= k->len && memcmp(d->data, k->data, k->len) == 0;
}
