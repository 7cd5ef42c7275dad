/* kin_buf: the one growable byte buffer, for replies and packed arguments.
 * It grows by doubling so a run of small appends stays linear overall. */
#include "core.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int kin_buf_reserve(kin_buf *buf, size_t n)
{
	if (n <= buf->cap - buf->len)
		return 0;
	if (n > SIZE_MAX - buf->len)
		return -ENOMEM;
	size_t need = buf->len + n;
	size_t cap = buf->cap ? buf->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	char *p = realloc(buf->data, cap);
	if (!p)
		return -ENOMEM;
	buf->data = p;
	buf->cap = cap;
	return 0;
}

int kin_buf_append(kin_buf *buf, const void *data, size_t n)
{
	int r = kin_buf_reserve(buf, n);
	if (r < 0)
		return r;
	/* memcpy with a NULL source is undefined even for 0 bytes. */
	if (n)
		memcpy(buf->data + buf->len, data, n);
	buf->len += n;
	return 0;
}

void kin_buf_free(kin_buf *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = buf->cap = 0;
}
