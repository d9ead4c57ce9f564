/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the SPDY/3.1 parser (io/spdy) as the streaming
 * server receives it: the input after its first byte is the byte stream a
 * client sends, handed to the parser in pieces of the size the first byte
 * picks (frames split anywhere), the unparsed rest carried over like a
 * connection's receive buffer. Every frame is read field by field (so a
 * bad pointer or length shows under ASan), and the headers of every header
 * frame go back through the encoders to a second session and are parsed
 * again, which must give them back unchanged. Small limits make the limit
 * paths reachable. Must never crash, leak or hang.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/err.h"
#include "io/bytebuf.h"
#include "io/spdy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const berth_spdy_limits_t limits = {
        .max_payload = 1 << 16, .max_header_block = 1 << 14, .max_headers = 32};

/* Touches every byte the frame points to. */
static uint32_t read_frame(const berth_spdy_frame_t *f)
{
    uint32_t sum = f->stream_id ^ f->assoc_id ^ f->status ^ f->delta ^ f->ping_id;
    for (size_t i = 0; i < f->len; i++)
        sum += f->data[i];
    for (size_t i = 0; i < f->nsettings; i++)
        sum += f->settings[i].id ^ f->settings[i].value;
    for (size_t i = 0; i < f->nheaders; i++) {
        const berth_spdy_header_t *h = &f->headers[i];
        sum += (uint32_t)strlen(h->name) + (uint32_t)h->value_len;
        for (size_t k = 0; k <= h->value_len; k++)
            sum += (uint8_t)h->value[k];
    }
    if (f->nheaders)
        sum += berth_spdy_header_get(f, f->headers[0].name, NULL) != NULL;
    return sum + (uint32_t)strlen(berth_spdy_type_name(f->type));
}

/* The headers of f, encoded by `out` and parsed by `back`, come back the
 * same (parsed names are valid input for the encoders). */
static void echo_headers(berth_spdy_t *out, berth_spdy_t *back, const berth_spdy_frame_t *f)
{
    berth_bytebuf_t buf = {0};
    berth_err_t err = NULL;
    if (berth_spdy_put_headers(out, &buf, 1, 0, f->headers, f->nheaders, &err) < 0)
        abort();
    berth_spdy_frame_t g = {0};
    if (berth_spdy_parse(back, buf.data, buf.len, &g, &err) != (ssize_t)buf.len ||
        g.nheaders != f->nheaders)
        abort();
    for (size_t i = 0; i < g.nheaders; i++) {
        const berth_spdy_header_t *a = &f->headers[i], *b = &g.headers[i];
        if (a->name_len != b->name_len || a->value_len != b->value_len ||
            memcmp(a->name, b->name, a->name_len) != 0 ||
            memcmp(a->value, b->value, a->value_len) != 0)
            abort();
    }
    berth_spdy_frame_clear(&g);
    berth_bytebuf_free(&buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    berth_spdy_t *s = berth_spdy_new(), *out = berth_spdy_new(), *back = berth_spdy_new();
    berth_spdy_set_limits(s, &limits);
    size_t piece = (size_t)data[0] % 64 + 1;
    berth_bytebuf_t in = {0};
    volatile uint32_t sink = 0;
    for (size_t off = 1; off < size;) {
        size_t n = size - off < piece ? size - off : piece;
        berth_bytebuf_put(&in, data + off, n);
        off += n;
        ssize_t r;
        do {
            berth_spdy_frame_t f = {0};
            berth_err_t err = NULL;
            r = berth_spdy_parse(s, in.data + in.off, berth_bytebuf_pending(&in), &f, &err);
            if (r > 0) {
                sink += read_frame(&f);
                if (f.headers != NULL)
                    echo_headers(out, back, &f);
                berth_bytebuf_consume(&in, (size_t)r);
            }
            berth_spdy_frame_clear(&f);
            berth_err_free(&err);
            if (r < 0)
                goto done;
        } while (r > 0);
    }
done:
    (void)sink;
    berth_bytebuf_free(&in);
    berth_spdy_free(s);
    berth_spdy_free(out);
    berth_spdy_free(back);
    return 0;
}
