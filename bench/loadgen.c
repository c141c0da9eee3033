/*
 * loadgen.c - MQTT 3.1.1 load generator for bench/run.py.
 *
 * How this works: one thread, one epoll loop, non-blocking TCP sockets with
 * TCP_NODELAY.  Every PUBLISH is a pre-encoded template copied into the
 * connection's output buffer with its packet id and sequence number patched in;
 * output is flushed once per loop turn, so one send() carries many packets.
 * Input is read in large chunks and parsed packet by packet (a packet may be
 * split across reads, and one read may hold many packets).  The loadgen is meant
 * to run pinned to its own core; it reports its own CPU use ("loadgen_cpu", a
 * fraction of one core) so the runner can tell when it was the bottleneck.
 *
 * Modes (each prints exactly one JSON line on stdout and stops by itself at the
 * hard --timeout):
 *   fanin    --pubs N publishers x --messages M each at --qos Q, with a window
 *            of --window unacknowledged QoS 1/2 messages per publisher, to one
 *            subscriber that acknowledges every delivery.  Rate is measured at
 *            the subscriber, first to last delivery.
 *   fanout   1 publisher x --messages M at QoS 0 (or --qos) to --subs N
 *            subscribers; rate = deliveries/s over all subscribers.
 *   latency  1 publisher at a fixed --rate, a CLOCK_MONOTONIC timestamp in the
 *            payload; the subscriber computes percentiles of end-to-end latency.
 *   idle     open --conns N connections (CONNECT, keepalive 600), wait for all
 *            CONNACKs, print the JSON line, then hold them until stdin reaches
 *            EOF or --hold / --timeout seconds pass.
 *
 * Build: cc -O2 -pthread -o loadgen loadgen.c   (libc only)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* MQTT 3.1.1 control packet types [MQTT-2.2.1] */
enum {
    T_CONNECT = 1, T_CONNACK, T_PUBLISH, T_PUBACK, T_PUBREC, T_PUBREL,
    T_PUBCOMP, T_SUBSCRIBE, T_SUBACK, T_UNSUBSCRIBE, T_UNSUBACK,
    T_PINGREQ, T_PINGRESP, T_DISCONNECT
};

#define MAGIC 0x3142474cu          /* "LGB1" */
#define HDR_BYTES 24               /* magic, publisher, seq, pad, send time */
#define SCRATCH_BYTES (256 * 1024)
#define FILL_BYTES (64 * 1024)     /* refill a publisher below this much pending */
#define MAX_EVENTS 512

/* ---------------------------------------------------------------- options */

static struct {
    const char *mode, *host, *topic;
    char id_prefix[64];
    int port, pubs, subs, qos, size, window, rate, conns, max_pending, keepalive;
    long messages, warmup;
    double timeout, drain, hold;
} opt = {
    .host = "127.0.0.1", .port = 1883, .pubs = 4, .subs = 50, .qos = 0,
    .size = 64, .window = 64, .rate = 1000, .conns = 2000, .max_pending = 100,
    .keepalive = 600, .messages = 10000, .warmup = -1, .timeout = 120,
    .drain = 3, .hold = -1,
};

/* ---------------------------------------------------------------- helpers */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec
        + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static char g_error[256];          /* first fatal error, reported in the JSON */
static int g_stop;

static void fail(const char *fmt, ...)
{
    if (!g_error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g_error, sizeof g_error, fmt, ap);
        va_end(ap);
        for (char *p = g_error; *p; p++)     /* keep the JSON string simple */
            if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = '\'';
    }
    g_stop = 1;
}

static void die_oom(void)
{
    fputs("loadgen: out of memory\n", stderr);
    _exit(3);
}

typedef struct { uint8_t *p; size_t off, len, cap; } buf_t;

static size_t buf_pending(const buf_t *b) { return b->len - b->off; }

static uint8_t *buf_put(buf_t *b, size_t n)
{
    if (b->off == b->len) b->off = b->len = 0;
    if (b->len + n > b->cap && b->off) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n) nc *= 2;
        uint8_t *np = realloc(b->p, nc);
        if (!np) die_oom();
        b->p = np;
        b->cap = nc;
    }
    uint8_t *at = b->p + b->len;
    b->len += n;
    return at;
}

static size_t put_varint(uint8_t *p, uint32_t v)    /* remaining length [MQTT-2.2.3] */
{
    size_t i = 0;
    do {
        uint8_t b = v % 128;
        v /= 128;
        p[i++] = b | (v ? 0x80 : 0);
    } while (v);
    return i;
}

static size_t put_str(uint8_t *p, const char *s)
{
    size_t n = strlen(s);
    p[0] = (uint8_t)(n >> 8);
    p[1] = (uint8_t)n;
    memcpy(p + 2, s, n);
    return n + 2;
}

/* ------------------------------------------------------------ connections */

typedef enum { ROLE_PUB, ROLE_SUB, ROLE_IDLE } role_t;

typedef struct conn {
    int fd, index, dirty, epout, started, tcp_ok, connacked, subacked, closing;
    role_t role;
    buf_t in, out;
    /* publisher */
    uint64_t to_send, sent, completed;
    uint32_t inflight;
    uint16_t next_pid;
    uint8_t *pid_state;            /* 0 free, 1 wait PUBACK/PUBREC, 2 wait PUBCOMP */
    /* subscriber */
    uint64_t received;
} conn_t;

static int g_ep;
static conn_t *g_conns;
static int g_nconns;
static conn_t **g_dirty;
static int g_ndirty;
static int g_started, g_tcp_ok, g_connacked, g_subacked, g_failed, g_dropped;
static uint64_t g_now;
static struct sockaddr_in g_addr;
static uint8_t g_scratch[SCRATCH_BYTES];

/* publish template: fixed header, topic, [packet id], payload */
static uint8_t *g_tpl;
static size_t g_tpl_len, g_tpl_pid_off, g_tpl_payload_off;

/* delivery statistics */
static uint64_t g_first_ns, g_last_ns, g_received, g_unique, g_dup, g_ooo, g_bad;
static uint64_t g_unexpected_ack;
static uint64_t g_max_backlog;     /* max of (acknowledged to publishers - delivered) */
static uint8_t **g_seen;           /* [sub * pubs + pub] -> bitmap of seq */
static int64_t *g_last_seq;        /* [sub * pubs + pub] */
static int64_t *g_lat;             /* latency mode, ns per measured message */
static uint64_t g_nlat;

static void mark_dirty(conn_t *c)
{
    if (!c->dirty) {
        c->dirty = 1;
        g_dirty[g_ndirty++] = c;
    }
}

static void set_epout(conn_t *c, int on)
{
    if (c->epout == on) return;
    struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };
    if (epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) fail("epoll_ctl: %s", strerror(errno));
    c->epout = on;
}

static void conn_close(conn_t *c)
{
    if (c->fd >= 0) {
        epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
}

/* A connection died under us: fatal everywhere except idle mode, which counts it. */
static void conn_lost(conn_t *c, const char *why)
{
    if (c->role == ROLE_IDLE) {
        if (c->connacked) g_dropped++;
        else g_failed++;
        if (!c->connacked) c->connacked = -1;        /* finished, unsuccessfully */
        conn_close(c);
        return;
    }
    fail("connection %d (%s): %s", c->index,
         c->role == ROLE_PUB ? "publisher" : "subscriber", why);
    conn_close(c);
}

static void flush(conn_t *c)
{
    while (buf_pending(&c->out) && c->fd >= 0) {
        ssize_t n = send(c->fd, c->out.p + c->out.off, buf_pending(&c->out), MSG_NOSIGNAL);
        if (n > 0) {
            c->out.off += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_epout(c, 1);
            return;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            conn_lost(c, strerror(errno));
            return;
        }
    }
    if (c->fd >= 0 && c->tcp_ok) set_epout(c, 0);
}

static void flush_dirty(void)
{
    for (int i = 0; i < g_ndirty; i++) {
        g_dirty[i]->dirty = 0;
        flush(g_dirty[i]);
    }
    g_ndirty = 0;
}

static void put_ack(conn_t *c, uint8_t first, uint16_t pid)
{
    uint8_t *p = buf_put(&c->out, 4);
    p[0] = first;
    p[1] = 2;
    p[2] = (uint8_t)(pid >> 8);
    p[3] = (uint8_t)pid;
    mark_dirty(c);
}

static void put_connect(conn_t *c)
{
    char id[96];
    snprintf(id, sizeof id, "%s-%d", opt.id_prefix, (int)(c - g_conns));  /* unique per run */
    uint8_t body[160];
    size_t n = put_str(body, "MQTT");
    body[n++] = 4;                                  /* protocol level 3.1.1 */
    body[n++] = 0x02;                               /* clean session */
    body[n++] = (uint8_t)(opt.keepalive >> 8);
    body[n++] = (uint8_t)opt.keepalive;
    n += put_str(body + n, id);
    uint8_t *p = buf_put(&c->out, 1 + 4 + n);
    size_t h = 0;
    p[h++] = T_CONNECT << 4;
    h += put_varint(p + h, (uint32_t)n);
    memcpy(p + h, body, n);
    c->out.len -= 5 - h;                            /* return the unused varint bytes */
    mark_dirty(c);
}

static void put_subscribe(conn_t *c, uint16_t pid)
{
    uint8_t body[300];
    size_t n = 0;
    body[n++] = (uint8_t)(pid >> 8);
    body[n++] = (uint8_t)pid;
    n += put_str(body + n, opt.topic);
    body[n++] = (uint8_t)opt.qos;
    uint8_t *p = buf_put(&c->out, 1 + 4 + n);
    size_t h = 0;
    p[h++] = (T_SUBSCRIBE << 4) | 0x02;             /* [MQTT-3.8.1-1] */
    h += put_varint(p + h, (uint32_t)n);
    memcpy(p + h, body, n);
    c->out.len -= 5 - h;
    mark_dirty(c);
}

static void put_disconnect(conn_t *c)
{
    uint8_t *p = buf_put(&c->out, 2);
    p[0] = T_DISCONNECT << 4;
    p[1] = 0;
    mark_dirty(c);
}

static void build_template(int qos)
{
    size_t topic_len = strlen(opt.topic);
    uint32_t rl = (uint32_t)(2 + topic_len + (qos ? 2 : 0) + (size_t)opt.size);
    g_tpl = calloc(1, 5 + rl);
    if (!g_tpl) die_oom();
    size_t n = 0;
    g_tpl[n++] = (uint8_t)((T_PUBLISH << 4) | (qos << 1));
    n += put_varint(g_tpl + n, rl);
    n += put_str(g_tpl + n, opt.topic);
    g_tpl_pid_off = n;
    if (qos) n += 2;
    g_tpl_payload_off = n;
    uint32_t magic = MAGIC;
    memcpy(g_tpl + n, &magic, 4);
    for (int i = HDR_BYTES; i < opt.size; i++) g_tpl[n + i] = (uint8_t)('a' + i % 26);
    g_tpl_len = n + (size_t)opt.size;
}

/* Append one PUBLISH; returns 0 when the QoS 1/2 window or packet id space is full. */
static int put_publish(conn_t *c, uint64_t stamp)
{
    uint16_t pid = 0;
    if (opt.qos) {
        if (c->inflight >= (uint32_t)opt.window) return 0;
        pid = c->next_pid;
        if (c->pid_state[pid]) return 0;
        c->pid_state[pid] = 1;
        c->inflight++;
        c->next_pid = (uint16_t)(pid == 65535 ? 1 : pid + 1);   /* 0 is not a valid id */
    }
    uint8_t *p = buf_put(&c->out, g_tpl_len);
    memcpy(p, g_tpl, g_tpl_len);
    if (opt.qos) {
        p[g_tpl_pid_off] = (uint8_t)(pid >> 8);
        p[g_tpl_pid_off + 1] = (uint8_t)pid;
    }
    uint32_t hdr[2] = { (uint32_t)c->index, (uint32_t)c->sent };
    memcpy(p + g_tpl_payload_off + 4, hdr, 8);
    memcpy(p + g_tpl_payload_off + 16, &stamp, 8);
    c->sent++;
    if (!opt.qos) c->completed++;
    mark_dirty(c);
    return 1;
}

/* ------------------------------------------------------------ incoming */

static void on_delivery(conn_t *c, const uint8_t *pl, size_t n)
{
    uint32_t magic, pub, seq;
    uint64_t stamp;
    if (n < HDR_BYTES) { g_bad++; return; }
    memcpy(&magic, pl, 4);
    memcpy(&pub, pl + 4, 4);
    memcpy(&seq, pl + 8, 4);
    memcpy(&stamp, pl + 16, 8);
    if (magic != MAGIC || pub >= (uint32_t)opt.pubs || seq >= (uint64_t)opt.messages) {
        g_bad++;
        return;
    }
    if (!g_received) g_first_ns = g_now;
    g_last_ns = g_now;
    g_received++;
    c->received++;
    size_t k = (size_t)c->index * (size_t)opt.pubs + pub;
    uint8_t *seen = g_seen[k];
    if (seen[seq >> 3] & (1u << (seq & 7))) {
        g_dup++;
    } else {
        seen[seq >> 3] |= (uint8_t)(1u << (seq & 7));
        g_unique++;
    }
    if ((int64_t)seq < g_last_seq[k]) g_ooo++;
    g_last_seq[k] = seq;
    if (g_lat && (long)seq >= opt.warmup && g_nlat < (uint64_t)opt.messages)
        g_lat[g_nlat++] = (int64_t)(g_now - stamp);
}

static void on_publish(conn_t *c, uint8_t first, const uint8_t *b, uint32_t n)
{
    int qos = (first >> 1) & 3;
    if (c->role != ROLE_SUB || qos == 3 || n < 2) { fail("unexpected PUBLISH"); return; }
    size_t tl = ((size_t)b[0] << 8) | b[1];
    size_t off = 2 + tl;
    uint16_t pid = 0;
    if (qos) {
        if (off + 2 > n) { fail("short PUBLISH"); return; }
        pid = (uint16_t)((b[off] << 8) | b[off + 1]);
        off += 2;
    }
    if (off > n) { fail("short PUBLISH"); return; }
    on_delivery(c, b + off, n - off);
    if (qos == 1) put_ack(c, T_PUBACK << 4, pid);
    else if (qos == 2) put_ack(c, T_PUBREC << 4, pid);
}

static void on_ack(conn_t *c, int type, const uint8_t *b, uint32_t n)
{
    if (n < 2) { fail("short ack type %d", type); return; }
    uint16_t pid = (uint16_t)((b[0] << 8) | b[1]);
    if (type == T_PUBREL) {                 /* subscriber side of QoS 2 */
        put_ack(c, (T_PUBCOMP << 4), pid);
        return;
    }
    if (c->role != ROLE_PUB) { g_unexpected_ack++; return; }
    uint8_t st = c->pid_state[pid];
    if (type == T_PUBREC && st == 1 && opt.qos == 2) {
        c->pid_state[pid] = 2;
        put_ack(c, (T_PUBREL << 4) | 0x02, pid);     /* [MQTT-3.6.1-1] */
    } else if (type == T_PUBREC && st == 2) {
        put_ack(c, (T_PUBREL << 4) | 0x02, pid);     /* resent PUBREC */
    } else if ((type == T_PUBACK && st == 1 && opt.qos == 1)
               || (type == T_PUBCOMP && st == 2)) {
        c->pid_state[pid] = 0;
        c->inflight--;
        c->completed++;
    } else {
        g_unexpected_ack++;
    }
}

static void on_packet(conn_t *c, uint8_t first, const uint8_t *b, uint32_t n)
{
    switch (first >> 4) {
    case T_CONNACK:
        if (n < 2 || b[1] != 0) { c->closing = 1; conn_lost(c, "CONNACK refused"); return; }
        if (!c->connacked) { c->connacked = 1; g_connacked++; }
        break;
    case T_SUBACK:
        if (n < 3 || b[2] == 0x80) { fail("SUBACK refused"); return; }
        if (!c->subacked) { c->subacked = 1; g_subacked++; }
        break;
    case T_PUBLISH:
        on_publish(c, first, b, n);
        break;
    case T_PUBACK: case T_PUBREC: case T_PUBREL: case T_PUBCOMP:
        on_ack(c, first >> 4, b, n);
        break;
    case T_PINGRESP:
        break;
    default:
        fail("unexpected packet type %d", first >> 4);
    }
}

/* Parse whole packets from p[0..len); returns the number of bytes consumed. */
static size_t parse(conn_t *c, const uint8_t *p, size_t len)
{
    size_t pos = 0;
    while (len - pos >= 2 && c->fd >= 0 && !g_stop) {
        uint32_t rl = 0, mul = 1;
        size_t i = pos + 1;
        for (;;) {
            if (i >= len) return pos;                   /* length not complete yet */
            uint8_t b = p[i++];
            rl += (uint32_t)(b & 0x7f) * mul;
            if (!(b & 0x80)) break;
            mul *= 128;
            if (i - pos > 4) { conn_lost(c, "malformed remaining length"); return len; }
        }
        if (len - i < rl) return pos;                   /* body not complete yet */
        on_packet(c, p[pos], p + i, rl);
        pos = i + rl;
    }
    return pos;
}

static void do_read(conn_t *c)
{
    for (int turn = 0; turn < 4 && c->fd >= 0; turn++) {
        ssize_t n = recv(c->fd, g_scratch, sizeof g_scratch, 0);
        if (n == 0) { if (!c->closing) conn_lost(c, "closed by broker"); else conn_close(c); return; }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR) continue;
            if (!c->closing) conn_lost(c, strerror(errno)); else conn_close(c);
            return;
        }
        if (!buf_pending(&c->in)) {
            size_t used = parse(c, g_scratch, (size_t)n);
            if (used < (size_t)n && c->fd >= 0)
                memcpy(buf_put(&c->in, (size_t)n - used), g_scratch + used, (size_t)n - used);
        } else {
            memcpy(buf_put(&c->in, (size_t)n), g_scratch, (size_t)n);
            c->in.off += parse(c, c->in.p + c->in.off, buf_pending(&c->in));
        }
        if ((size_t)n < sizeof g_scratch) return;
    }
}

/* ------------------------------------------------------------ connecting */

static void start_connect(conn_t *c)
{
    c->started = 1;
    g_started++;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) { conn_lost(c, strerror(errno)); return; }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
    c->epout = 1;
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) { conn_lost(c, strerror(errno)); return; }
    if (connect(c->fd, (struct sockaddr *)&g_addr, sizeof g_addr) < 0 && errno != EINPROGRESS)
        conn_lost(c, strerror(errno));
}

static void finish_connect(conn_t *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) { conn_lost(c, strerror(err)); return; }
    c->tcp_ok = 1;
    g_tcp_ok++;
    put_connect(c);
}

/* Keep at most --max-pending connections between connect() and CONNACK. */
static void pace_connects(void)
{
    while (g_started < g_nconns && g_started - g_connacked - g_failed < opt.max_pending && !g_stop)
        start_connect(&g_conns[g_started]);
}

/* ------------------------------------------------------------ event loop */

static int g_timer_fd = -1, g_timer_ticks;
static int g_stdin_eof;
static conn_t g_timer_tag, g_stdin_tag;

static void loop_once(int timeout_ms)
{
    struct epoll_event ev[MAX_EVENTS];
    int n = epoll_wait(g_ep, ev, MAX_EVENTS, timeout_ms);
    if (n < 0 && errno != EINTR) { fail("epoll_wait: %s", strerror(errno)); return; }
    g_now = now_ns();
    for (int i = 0; i < n && !g_stop; i++) {
        conn_t *c = ev[i].data.ptr;
        if (c == &g_timer_tag) {
            uint64_t k = 0;
            if (read(g_timer_fd, &k, sizeof k) == sizeof k) g_timer_ticks += (int)k;
            continue;
        }
        if (c == &g_stdin_tag) {
            char tmp[256];
            ssize_t r = read(0, tmp, sizeof tmp);
            if (r <= 0) {
                g_stdin_eof = 1;
                epoll_ctl(g_ep, EPOLL_CTL_DEL, 0, NULL);
            }
            continue;
        }
        if (c->fd < 0) continue;
        if (!c->tcp_ok && (ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            finish_connect(c);
            continue;
        }
        if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) do_read(c);
        if ((ev[i].events & EPOLLOUT) && c->fd >= 0) flush(c);
    }
}

static uint64_t g_deadline;

static int expired(void) { return g_now >= g_deadline; }

/* Open all connections; with subscribe != 0, also subscribe the subscribers. */
static int connect_all(void)
{
    pace_connects();
    flush_dirty();
    while (!g_stop && !expired() && g_connacked + g_failed < g_nconns) {
        loop_once(50);
        pace_connects();
        flush_dirty();
    }
    return g_connacked == g_nconns;
}

static int subscribe_all(void)
{
    int want = 0;
    for (int i = 0; i < g_nconns; i++)
        if (g_conns[i].role == ROLE_SUB) { put_subscribe(&g_conns[i], 1); want++; }
    flush_dirty();
    while (!g_stop && !expired() && g_subacked < want) {
        loop_once(50);
        flush_dirty();
    }
    return g_subacked == want;
}

static void disconnect_all(void)
{
    for (int i = 0; i < g_nconns; i++) {
        conn_t *c = &g_conns[i];
        if (c->fd >= 0 && c->connacked == 1) {
            c->closing = 1;
            put_disconnect(c);
        }
    }
    flush_dirty();
    for (int i = 0; i < g_nconns; i++) conn_close(&g_conns[i]);
}

/* ------------------------------------------------------------ setup */

static void alloc_conns(int n)
{
    g_nconns = n;
    g_conns = calloc((size_t)n, sizeof *g_conns);
    g_dirty = calloc((size_t)n, sizeof *g_dirty);
    if (!g_conns || !g_dirty) die_oom();
    for (int i = 0; i < n; i++) g_conns[i].fd = -1;
}

static void setup_tracking(int nsubs)
{
    size_t k = (size_t)nsubs * (size_t)opt.pubs;
    g_seen = calloc(k, sizeof *g_seen);
    g_last_seq = calloc(k, sizeof *g_last_seq);
    if (!g_seen || !g_last_seq) die_oom();
    for (size_t i = 0; i < k; i++) {
        g_seen[i] = calloc((size_t)opt.messages / 8 + 1, 1);
        if (!g_seen[i]) die_oom();
        g_last_seq[i] = -1;
    }
}

static void setup_pub(conn_t *c, int index)
{
    c->role = ROLE_PUB;
    c->index = index;
    c->to_send = (uint64_t)opt.messages;
    c->next_pid = 1;
    if (opt.qos) {
        c->pid_state = calloc(65536, 1);
        if (!c->pid_state) die_oom();
    }
}

static int all_published(conn_t *pubs, int n)
{
    for (int i = 0; i < n; i++)
        if (pubs[i].completed < pubs[i].to_send || buf_pending(&pubs[i].out)) return 0;
    return 1;
}

/* ------------------------------------------------------------ results */

static void print_common(const char *mode)
{
    printf("{\"mode\":\"%s\",\"qos\":%d,\"size\":%d", mode, opt.qos, opt.size);
}

static void print_error_and_end(int timed_out)
{
    printf(",\"timed_out\":%s,\"error\":", timed_out ? "true" : "false");
    if (g_error[0]) printf("\"%s\"}\n", g_error);
    else printf("null}\n");
    fflush(stdout);
}

/* ------------------------------------------------------------ modes */

/* fanin and fanout share one engine: npubs publishers, nsubs subscribers. */
static int run_throughput(const char *mode, int npubs, int nsubs)
{
    opt.pubs = npubs;
    alloc_conns(npubs + nsubs);
    conn_t *subs = g_conns, *pubs = g_conns + nsubs;
    for (int i = 0; i < nsubs; i++) { subs[i].role = ROLE_SUB; subs[i].index = i; }
    for (int i = 0; i < npubs; i++) setup_pub(&pubs[i], i);
    setup_tracking(nsubs);
    build_template(opt.qos);

    int ok = connect_all() && subscribe_all();
    uint64_t expected = (uint64_t)npubs * (uint64_t)opt.messages * (uint64_t)nsubs;
    uint64_t t0 = now_ns(), pub_done_ns = 0, last_progress = t0, last_received = 0;
    double cpu0 = cpu_seconds();
    while (ok && !g_stop && !expired()) {
        int can_fill = 0;
        for (int i = 0; i < npubs; i++) {
            conn_t *c = &pubs[i];
            if (c->fd < 0 || c->epout) continue;        /* socket full: wait for EPOLLOUT */
            while (c->sent < c->to_send && buf_pending(&c->out) < FILL_BYTES)
                if (!put_publish(c, 0)) break;
            if (c->sent < c->to_send && (!opt.qos || c->inflight < (uint32_t)opt.window))
                can_fill = 1;
        }
        flush_dirty();
        loop_once(can_fill ? 0 : 10);
        flush_dirty();
        if (g_received != last_received) { last_received = g_received; last_progress = g_now; }
        uint64_t done = 0;
        for (int i = 0; i < npubs; i++) done += pubs[i].completed * (uint64_t)nsubs;
        if (opt.qos && done > g_unique && done - g_unique > g_max_backlog) g_max_backlog = done - g_unique;
        if (!pub_done_ns && all_published(pubs, npubs)) { pub_done_ns = g_now; last_progress = g_now; }
        if (pub_done_ns && g_unique >= expected) break;
        if (pub_done_ns && g_now - last_progress > (uint64_t)(opt.drain * 1e9)) break;
    }
    int timed_out = ok && expired() && !g_stop;
    double cpu = cpu_seconds() - cpu0;
    uint64_t t_end = now_ns();
    if (!ok && !g_error[0]) fail("could not connect/subscribe: %d/%d CONNACK, %d SUBACK",
                                  g_connacked, g_nconns, g_subacked);
    disconnect_all();

    uint64_t sent = 0;
    for (int i = 0; i < npubs; i++) sent += pubs[i].sent;
    /* "rate" runs from the first PUBLISH written to the last delivery, so a broker that
     * reads everything before delivering anything is not flattered; "rate_first_last" is
     * the subscriber-only view (first to last delivery). */
    double span = g_received > 1 ? (g_last_ns - g_first_ns) / 1e9 : 0;
    double span_all = g_received ? (g_last_ns - t0) / 1e9 : 0;
    double pub_span = ((pub_done_ns ? pub_done_ns : t_end) - t0) / 1e9;
    print_common(mode);
    printf(",\"pubs\":%d,\"subs\":%d,\"messages_per_pub\":%ld,\"window\":%d,"
           "\"sent\":%llu,\"expected\":%llu,\"received\":%llu,\"unique\":%llu,"
           "\"lost\":%llu,\"dup\":%llu,\"out_of_order\":%llu,\"bad\":%llu,"
           "\"unexpected_ack\":%llu,\"max_backlog\":%llu,\"seconds\":%.6f,\"rate\":%.1f,"
           "\"seconds_first_last\":%.6f,\"rate_first_last\":%.1f,"
           "\"pub_seconds\":%.6f,\"loadgen_cpu\":%.3f",
           npubs, nsubs, opt.messages, opt.window,
           (unsigned long long)sent, (unsigned long long)expected,
           (unsigned long long)g_received, (unsigned long long)g_unique,
           (unsigned long long)(expected - g_unique), (unsigned long long)g_dup,
           (unsigned long long)g_ooo, (unsigned long long)g_bad,
           (unsigned long long)g_unexpected_ack, (unsigned long long)g_max_backlog, span_all,
           span_all > 0 ? g_received / span_all : 0.0, span, span > 0 ? g_received / span : 0.0,
           pub_span,
           (t_end - t0) > 0 ? cpu / ((t_end - t0) / 1e9) : 0.0);
    print_error_and_end(timed_out);
    return (g_error[0] || timed_out) ? 1 : 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct(double q)
{
    if (!g_nlat) return 0;
    size_t i = (size_t)(q * (double)(g_nlat - 1) + 0.5);
    return g_lat[i] / 1e3;                           /* microseconds */
}

static int run_latency(void)
{
    opt.pubs = 1;
    if (opt.warmup < 0) opt.warmup = opt.rate / 2;
    if (opt.warmup >= opt.messages) opt.warmup = 0;
    alloc_conns(2);
    conn_t *sub = &g_conns[0], *pub = &g_conns[1];
    sub->role = ROLE_SUB;
    setup_pub(pub, 0);
    setup_tracking(1);
    build_template(opt.qos);
    g_lat = calloc((size_t)opt.messages, sizeof *g_lat);
    if (!g_lat) die_oom();

    int ok = connect_all() && subscribe_all();
    g_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    long period = 1000000000L / opt.rate;
    struct itimerspec its = { .it_interval = { period / 1000000000L, period % 1000000000L },
                              .it_value = { 0, 1000000 } };
    timerfd_settime(g_timer_fd, 0, &its, NULL);
    struct epoll_event tev = { .events = EPOLLIN, .data.ptr = &g_timer_tag };
    epoll_ctl(g_ep, EPOLL_CTL_ADD, g_timer_fd, &tev);

    uint64_t t0 = now_ns(), pub_done_ns = 0, late = 0;
    double cpu0 = cpu_seconds();
    while (ok && !g_stop && !expired()) {
        /* A tick that finds an earlier one unserved, or the QoS 1/2 window
         * full, is "late": its message goes out with a later tick. */
        if (g_timer_ticks > 1) late += (uint64_t)(g_timer_ticks - 1);
        if (g_timer_ticks > 0 && pub->sent < pub->to_send && !put_publish(pub, now_ns()))
            late++;
        g_timer_ticks = 0;
        flush_dirty();
        loop_once(10);
        flush_dirty();
        if (!pub_done_ns && all_published(pub, 1)) pub_done_ns = g_now;
        if (pub_done_ns && g_unique >= (uint64_t)opt.messages) break;
        if (pub_done_ns && g_now - pub_done_ns > (uint64_t)(opt.drain * 1e9)) break;
    }
    int timed_out = ok && expired() && !g_stop;
    double cpu = cpu_seconds() - cpu0;
    uint64_t t_end = now_ns();
    if (!ok && !g_error[0]) fail("could not connect/subscribe");
    disconnect_all();

    qsort(g_lat, g_nlat, sizeof *g_lat, cmp_i64);
    double sum = 0;
    for (uint64_t i = 0; i < g_nlat; i++) sum += g_lat[i] / 1e3;
    print_common("latency");
    printf(",\"rate_target\":%d,\"sent\":%llu,\"expected\":%ld,\"received\":%llu,"
           "\"lost\":%llu,\"dup\":%llu,\"out_of_order\":%llu,\"warmup\":%ld,\"samples\":%llu,"
           "\"late_ticks\":%llu,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
           "\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,\"seconds\":%.3f,"
           "\"loadgen_cpu\":%.3f",
           opt.rate, (unsigned long long)pub->sent, opt.messages,
           (unsigned long long)g_received,
           (unsigned long long)((uint64_t)opt.messages - g_unique),
           (unsigned long long)g_dup, (unsigned long long)g_ooo, opt.warmup,
           (unsigned long long)g_nlat, (unsigned long long)late,
           pct(0.50), pct(0.90), pct(0.99), pct(0.999), pct(1.0),
           g_nlat ? sum / g_nlat : 0.0, (t_end - t0) / 1e9,
           (t_end - t0) > 0 ? cpu / ((t_end - t0) / 1e9) : 0.0);
    print_error_and_end(timed_out);
    return (g_error[0] || timed_out) ? 1 : 0;
}

static int run_idle(void)
{
    alloc_conns(opt.conns);
    for (int i = 0; i < opt.conns; i++) { g_conns[i].role = ROLE_IDLE; g_conns[i].index = i; }
    uint64_t t0 = now_ns();
    connect_all();
    double connect_s = (now_ns() - t0) / 1e9;
    int all = g_connacked == opt.conns;
    print_common("idle");
    printf(",\"connections\":%d,\"connected\":%d,\"failed\":%d,\"connect_seconds\":%.3f",
           opt.conns, g_connacked, g_failed, connect_s);
    if (!all && !g_error[0]) fail("only %d of %d connections accepted", g_connacked, opt.conns);
    print_error_and_end(!all && expired());
    if (!all) { disconnect_all(); return 1; }

    /* Hold until stdin is closed, or the hold time / hard timeout passes. */
    struct epoll_event sev = { .events = EPOLLIN, .data.ptr = &g_stdin_tag };
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, 0, &sev) < 0) g_stdin_eof = 0;  /* e.g. /dev/null: hold */
    uint64_t hold_until = opt.hold >= 0 ? g_now + (uint64_t)(opt.hold * 1e9) : g_deadline;
    if (hold_until > g_deadline) hold_until = g_deadline;
    while (!g_stdin_eof && !g_stop && g_now < hold_until) {
        loop_once(200);
        flush_dirty();
    }
    if (g_dropped) fprintf(stderr, "loadgen: broker closed %d idle connections\n", g_dropped);
    disconnect_all();
    return g_dropped ? 1 : 0;
}

/* ------------------------------------------------------------ main */

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] =
        "{\"mode\":\"unknown\",\"timed_out\":true,\"error\":\"hard timeout (alarm)\"}\n";
    ssize_t r = write(1, msg, sizeof msg - 1);
    (void)r;
    _exit(2);
}

static void usage(void)
{
    fputs("usage: loadgen fanin|fanout|latency|idle [--host H] [--port P] [--pubs N] [--subs N]\n"
          "       [--messages M per publisher] [--qos 0|1|2] [--size BYTES] [--window W]\n"
          "       [--rate MSG/S] [--warmup M] [--conns N] [--hold S] [--timeout S] [--drain S]\n"
          "       [--max-pending N] [--keepalive S] [--topic T] [--id-prefix P]\n", stderr);
    exit(64);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"host", 1, 0, 'h'}, {"port", 1, 0, 'p'}, {"pubs", 1, 0, 'P'}, {"subs", 1, 0, 'S'},
        {"messages", 1, 0, 'm'}, {"qos", 1, 0, 'q'}, {"size", 1, 0, 's'},
        {"window", 1, 0, 'w'}, {"rate", 1, 0, 'r'}, {"warmup", 1, 0, 'W'},
        {"conns", 1, 0, 'c'}, {"hold", 1, 0, 'H'}, {"timeout", 1, 0, 't'},
        {"drain", 1, 0, 'd'}, {"max-pending", 1, 0, 'x'}, {"keepalive", 1, 0, 'k'},
        {"topic", 1, 0, 'T'}, {"id-prefix", 1, 0, 'i'}, {0, 0, 0, 0}};
    if (argc < 2 || argv[1][0] == '-') usage();
    opt.mode = argv[1];
    snprintf(opt.id_prefix, sizeof opt.id_prefix, "lg%d", (int)getpid());
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'P': opt.pubs = atoi(optarg); break;
        case 'S': opt.subs = atoi(optarg); break;
        case 'm': opt.messages = atol(optarg); break;
        case 'q': opt.qos = atoi(optarg); break;
        case 's': opt.size = atoi(optarg); break;
        case 'w': opt.window = atoi(optarg); break;
        case 'r': opt.rate = atoi(optarg); break;
        case 'W': opt.warmup = atol(optarg); break;
        case 'c': opt.conns = atoi(optarg); break;
        case 'H': opt.hold = atof(optarg); break;
        case 't': opt.timeout = atof(optarg); break;
        case 'd': opt.drain = atof(optarg); break;
        case 'x': opt.max_pending = atoi(optarg); break;
        case 'k': opt.keepalive = atoi(optarg); break;
        case 'T': opt.topic = optarg; break;
        case 'i': snprintf(opt.id_prefix, sizeof opt.id_prefix, "%s", optarg); break;
        default: usage();
        }
    }
    if (opt.qos < 0 || opt.qos > 2 || opt.size < HDR_BYTES || opt.messages < 1
        || opt.messages > 0xffffffffL || opt.window < 1 || opt.window > 65535
        || opt.rate < 1 || opt.pubs < 1 || opt.subs < 1 || opt.conns < 1
        || opt.max_pending < 1 || opt.timeout <= 0 || opt.keepalive < 0
        || opt.keepalive > 65535) {
        fprintf(stderr, "loadgen: bad option value (size >= %d, qos 0..2, ...)\n", HDR_BYTES);
        return 64;
    }
    if (!opt.topic) {
        static char topic[64];
        snprintf(topic, sizeof topic, "bench/%s", opt.mode);
        opt.topic = topic;
    }
    if (strlen(opt.topic) > 200) { fputs("loadgen: topic too long\n", stderr); return 64; }

    memset(&g_addr, 0, sizeof g_addr);
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &g_addr.sin_addr) != 1) {
        fprintf(stderr, "loadgen: --host must be an IPv4 address\n");
        return 64;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)opt.timeout + 5);               /* backstop if the loop itself wedges */
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    g_now = now_ns();
    g_deadline = g_now + (uint64_t)(opt.timeout * 1e9);

    if (!strcmp(opt.mode, "fanin")) return run_throughput("fanin", opt.pubs, 1);
    if (!strcmp(opt.mode, "fanout")) return run_throughput("fanout", 1, opt.subs);
    if (!strcmp(opt.mode, "latency")) return run_latency();
    if (!strcmp(opt.mode, "idle")) return run_idle();
    usage();
    return 64;
}
