/*
 * loadgen: an epoll IRC fan-out load generator for bench/fanout.py.
 *
 * It opens N member connections (plain TCP or WebSocket with client masking,
 * subprotocol text.ircv3.net) to one server on a loopback address, registers
 * them, and then obeys commands read line by line from stdin:
 *
 *   JOIN                         every member joins the channel, then a barrier
 *   BURST senders k window secs  each sender sends k messages as fast as its
 *                                window of `window` not-yet-fully-delivered
 *                                messages allows, for at most secs seconds
 *   RATE senders rate secs       rate messages/s in total for secs seconds
 *   QUIT                         close everything and exit
 *
 * Each PRIVMSG carries "T <run> <sender> <seq> <monotonic ns>"; every member
 * counts deliveries and a latency histogram (10 us buckets) gives percentiles.
 * Results are single-line JSON objects on stdout, prefixed with a keyword.
 * Every loop is bounded in count and in time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BUCKET_NS 10000ULL          /* histogram bucket: 10 us */
#define NBUCKETS (3000000)          /* 30 s of range */
#define RECV_CHUNK (256 * 1024)
#define MAX_TAIL (64 * 1024)
#define MAX_EVENTS 1024

enum { ST_IDLE, ST_CONNECTING, ST_WSHS, ST_REG, ST_READY, ST_JOINING, ST_JOINED, ST_CLOSED };

typedef struct {
    int fd;
    int idx;
    int state;
    int out_armed;
    int dirty;
    char *tail; /* unconsumed raw bytes (partial line or partial frame) */
    size_t tlen;
    char *lbuf; /* websocket: payload of an unfinished message */
    size_t llen;
    char *wbuf; /* pending output */
    size_t wlen, wcap;
    uint64_t sent;      /* as a sender, messages sent in this run */
    uint64_t delivered; /* deliveries of this sender's messages seen */
    int barrier;        /* last barrier id seen */
} conn_t;

static int g_ws = 0;
static int g_n = 0;
static const char *g_host = "127.0.0.1";
static int g_port = 6667;
static const char *g_chan = "#bench";
static const char *g_prefix = "m";
static int g_pad = 40;
static int g_inflight = 256;
static int g_quickack = 0;
static int g_kts = 1;           /* latency from kernel receive timestamps */
static int64_t g_rt_offset;     /* CLOCK_REALTIME - CLOCK_MONOTONIC */
static uint64_t g_kts_used, g_kts_fallback;
static conn_t *g_conns;
static int g_epfd;
static char *g_rx;
static int *g_dirty;
static int g_ndirty;

/* counters */
static int g_registered, g_joined, g_closed, g_failed, g_started;
static int g_barrier_id, g_barrier_seen;
static int g_run;
static uint64_t g_deliv, g_last_recv, g_first_send;
static uint32_t *g_hist;
static uint64_t g_hist_over, g_lat_max, g_lat_sum;
static uint64_t g_bad_lines;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("FATAL {\"error\": \"");
    vprintf(fmt, ap);
    printf("\"}\n");
    va_end(ap);
    fflush(stdout);
    exit(2);
}

static void arm(conn_t *c, int out) {
    struct epoll_event ev = {0};
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
    ev.data.u32 = (uint32_t)c->idx;
    if (epoll_ctl(g_epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->out_armed = out;
}

static void conn_close(conn_t *c) {
    if (c->state == ST_CLOSED) return;
    if (c->fd >= 0) {
        epoll_ctl(g_epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = ST_CLOSED;
    c->wlen = 0;
    g_closed++;
}

static void out_raw(conn_t *c, const char *data, size_t len) {
    if (c->state == ST_CLOSED) return;
    if (c->wlen + len > c->wcap) {
        size_t cap = c->wcap ? c->wcap : 4096;
        while (cap < c->wlen + len) cap *= 2;
        c->wbuf = realloc(c->wbuf, cap);
        if (!c->wbuf) die("out of memory");
        c->wcap = cap;
    }
    memcpy(c->wbuf + c->wlen, data, len);
    c->wlen += len;
    if (!c->dirty) {
        c->dirty = 1;
        g_dirty[g_ndirty++] = c->idx;
    }
}

/* Queue one IRC line (without CRLF); framed and masked over WebSocket. */
static void out_line(conn_t *c, const char *line, size_t len) {
    if (!g_ws) {
        char buf[1024];
        if (len > sizeof(buf) - 2) len = sizeof(buf) - 2;
        memcpy(buf, line, len);
        buf[len] = '\r';
        buf[len + 1] = '\n';
        out_raw(c, buf, len + 2);
        return;
    }
    unsigned char frame[1100];
    size_t h = 0;
    if (len > 1000) len = 1000;
    static const unsigned char mask[4] = {0x5a, 0x13, 0xc7, 0x88};
    frame[h++] = 0x81; /* FIN, text */
    if (len < 126) {
        frame[h++] = 0x80 | (unsigned char)len;
    } else {
        frame[h++] = 0x80 | 126;
        frame[h++] = (unsigned char)(len >> 8);
        frame[h++] = (unsigned char)(len & 0xff);
    }
    memcpy(frame + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++) frame[h + i] = (unsigned char)line[i] ^ mask[i & 3];
    out_raw(c, (const char *)frame, h + len);
}

static void out_fmt(conn_t *c, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof(buf)) n = sizeof(buf) - 1;
    out_line(c, buf, (size_t)n);
}

/* WebSocket control frame (pong/close) from client: masked. */
static void out_ws_control(conn_t *c, int opcode, const char *payload, size_t len) {
    unsigned char frame[140];
    static const unsigned char mask[4] = {0x11, 0x22, 0x33, 0x44};
    if (len > 125) len = 125;
    frame[0] = (unsigned char)(0x80 | opcode);
    frame[1] = (unsigned char)(0x80 | len);
    memcpy(frame + 2, mask, 4);
    for (size_t i = 0; i < len; i++) frame[6 + i] = (unsigned char)payload[i] ^ mask[i & 3];
    out_raw(c, (const char *)frame, 6 + len);
}

static void flush_conn(conn_t *c) {
    if (c->state == ST_CLOSED || c->wlen == 0 || c->state == ST_CONNECTING) return;
    ssize_t n = send(c->fd, c->wbuf, c->wlen, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) n = 0;
        else {
            conn_close(c);
            return;
        }
    }
    if ((size_t)n < c->wlen) {
        memmove(c->wbuf, c->wbuf + n, c->wlen - (size_t)n);
        c->wlen -= (size_t)n;
        if (!c->out_armed) arm(c, 1);
    } else {
        c->wlen = 0;
        if (c->out_armed) arm(c, 0);
    }
}

static void flush_all(void) {
    for (int i = 0; i < g_ndirty; i++) {
        conn_t *c = &g_conns[g_dirty[i]];
        c->dirty = 0;
        flush_conn(c);
    }
    g_ndirty = 0;
}

static void send_register(conn_t *c) {
    out_fmt(c, "NICK %s%d", g_prefix, c->idx);
    out_fmt(c, "USER %s%d 0 * :bench member %d", g_prefix, c->idx, c->idx);
    c->state = ST_REG;
}

static void start_connect(int idx) {
    conn_t *c = &g_conns[idx];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (g_kts) setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)g_port);
    if (inet_pton(AF_INET, g_host, &sa.sin_addr) != 1) die("bad host %s", g_host);
    if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127) die("only loopback addresses are allowed");
    c->fd = fd;
    c->state = ST_CONNECTING;
    struct epoll_event ev = {0};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u32 = (uint32_t)idx;
    c->out_armed = 1;
    if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl: %s", strerror(errno));
    int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (r != 0 && errno != EINPROGRESS) {
        g_failed++;
        conn_close(c);
    }
    g_started++;
}

static void on_connected(conn_t *c) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
        g_failed++;
        conn_close(c);
        return;
    }
    if (g_ws) {
        char req[512];
        int n = snprintf(req, sizeof(req),
                         "GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: text.ircv3.net\r\n"
                         "Origin: http://%s:%d\r\n\r\n",
                         g_host, g_port, g_host, g_port);
        c->state = ST_WSHS;
        out_raw(c, req, (size_t)n);
    } else {
        send_register(c);
    }
}

static uint64_t parse_u64(const char **pp, const char *end, int *ok) {
    const char *p = *pp;
    uint64_t v = 0;
    int any = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
        any = 1;
    }
    if (p < end && *p == ' ') p++;
    *pp = p;
    if (!any) *ok = 0;
    return v;
}

static void handle_line(conn_t *c, const char *s, size_t n, uint64_t now) {
    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n')) n--;
    if (n == 0) return;
    const char *end = s + n;
    const char *p = s;
    if (*p == '@') {
        p = memchr(p, ' ', (size_t)(end - p));
        if (!p) return;
        p++;
    }
    if (p < end && *p == ':') {
        p = memchr(p, ' ', (size_t)(end - p));
        if (!p) return;
        p++;
    }
    size_t rest = (size_t)(end - p);
    if (rest > 8 && memcmp(p, "PRIVMSG ", 8) == 0) {
        const char *q = p + 8;
        q = memchr(q, ' ', (size_t)(end - q));
        if (!q || q + 2 > end || q[1] != ':') return;
        q += 2;
        if (q < end && *q == 'T' && q + 1 < end && q[1] == ' ') {
            q += 2;
            int ok = 1;
            uint64_t run = parse_u64(&q, end, &ok);
            uint64_t sender = parse_u64(&q, end, &ok);
            (void)parse_u64(&q, end, &ok);
            uint64_t ts = parse_u64(&q, end, &ok);
            if (!ok || sender >= (uint64_t)g_n) {
                g_bad_lines++;
                return;
            }
            if ((int)run != g_run) return;
            uint64_t lat = now > ts ? now - ts : 0;
            uint64_t b = lat / BUCKET_NS;
            if (b < NBUCKETS) g_hist[b]++;
            else g_hist_over++;
            if (lat > g_lat_max) g_lat_max = lat;
            g_lat_sum += lat;
            g_conns[sender].delivered++;
            g_deliv++;
            g_last_recv = now;
        } else if (q < end && *q == 'B') {
            int ok = 1;
            q += 2;
            int id = (int)parse_u64(&q, end, &ok);
            if (ok && id == g_barrier_id && c->barrier != id) {
                c->barrier = id;
                g_barrier_seen++;
            }
        }
        return;
    }
    if (rest >= 4 && memcmp(p, "PING", 4) == 0) {
        char buf[600];
        size_t m = rest - 4;
        if (m > 500) m = 500;
        memcpy(buf, "PONG", 4);
        memcpy(buf + 4, p + 4, m);
        out_line(c, buf, 4 + m);
        return;
    }
    if (rest >= 3 && memcmp(p, "001", 3) == 0 && (rest == 3 || p[3] == ' ')) {
        if (c->state == ST_REG) {
            c->state = ST_READY;
            g_registered++;
        }
        return;
    }
    if (rest >= 3 && memcmp(p, "366", 3) == 0 && (rest == 3 || p[3] == ' ')) {
        if (c->state == ST_JOINING) {
            c->state = ST_JOINED;
            g_joined++;
        }
        return;
    }
    if (rest >= 5 && memcmp(p, "ERROR", 5) == 0) {
        fprintf(stderr, "loadgen: member %d got %.*s\n", c->idx, (int)n, s);
        conn_close(c);
        return;
    }
    if (rest >= 3 && (memcmp(p, "433", 3) == 0 || memcmp(p, "432", 3) == 0 ||
                      memcmp(p, "465", 3) == 0 || memcmp(p, "471", 3) == 0 ||
                      memcmp(p, "405", 3) == 0)) {
        fprintf(stderr, "loadgen: member %d got %.*s\n", c->idx, (int)n, s);
    }
}

/* Split buf[0:len] into lines; return bytes consumed. */
static size_t handle_lines(conn_t *c, const char *buf, size_t len, uint64_t now) {
    size_t off = 0;
    while (off < len) {
        const char *nl = memchr(buf + off, '\n', len - off);
        if (!nl) break;
        size_t ll = (size_t)(nl - (buf + off));
        handle_line(c, buf + off, ll, now);
        if (c->state == ST_CLOSED) return len;
        off += ll + 1;
    }
    return off;
}

static void save_tail(conn_t *c, const char *data, size_t len) {
    if (len > MAX_TAIL) {
        g_bad_lines++;
        len = 0;
    }
    memmove(c->tail, data, len);
    c->tlen = len;
}

static void ws_payload(conn_t *c, const char *data, size_t len, int fin, uint64_t now) {
    if (c->llen == 0 && fin) {
        /* the common case: one whole message per frame */
        size_t used = handle_lines(c, data, len, now);
        if (c->state != ST_CLOSED && used < len) handle_line(c, data + used, len - used, now);
        return;
    }
    if (c->llen + len > MAX_TAIL) {
        g_bad_lines++;
        c->llen = 0;
        return;
    }
    memcpy(c->lbuf + c->llen, data, len);
    c->llen += len;
    if (fin) {
        size_t used = handle_lines(c, c->lbuf, c->llen, now);
        if (c->state != ST_CLOSED && used < c->llen) handle_line(c, c->lbuf + used, c->llen - used, now);
        c->llen = 0;
    }
}

/* Parse frames in buf; return bytes consumed. */
static size_t handle_frames(conn_t *c, const char *buf, size_t len, uint64_t now) {
    size_t off = 0;
    while (len - off >= 2 && c->state != ST_CLOSED) {
        const unsigned char *h = (const unsigned char *)buf + off;
        int fin = h[0] & 0x80;
        int op = h[0] & 0x0f;
        int masked = h[1] & 0x80;
        uint64_t plen = h[1] & 0x7f;
        size_t hl = 2;
        if (plen == 126) {
            if (len - off < 4) break;
            plen = ((uint64_t)h[2] << 8) | h[3];
            hl = 4;
        } else if (plen == 127) {
            if (len - off < 10) break;
            plen = 0;
            for (int i = 0; i < 8; i++) plen = (plen << 8) | h[2 + i];
            hl = 10;
        }
        if (masked) hl += 4;
        if (plen > MAX_TAIL) {
            fprintf(stderr, "loadgen: frame too large (%llu)\n", (unsigned long long)plen);
            conn_close(c);
            return len;
        }
        if (len - off < hl + plen) break;
        char *payload = (char *)buf + off + hl;
        if (masked) {
            const unsigned char *mk = h + hl - 4;
            for (uint64_t i = 0; i < plen; i++) payload[i] ^= (char)mk[i & 3];
        }
        if (op == 0 || op == 1 || op == 2) {
            ws_payload(c, payload, (size_t)plen, fin, now);
        } else if (op == 8) {
            fprintf(stderr, "loadgen: member %d got a websocket close\n", c->idx);
            conn_close(c);
            return len;
        } else if (op == 9) {
            out_ws_control(c, 10, payload, (size_t)plen);
        }
        off += hl + (size_t)plen;
    }
    return off;
}

static void on_readable(conn_t *c, uint64_t now) {
    (void)now;
    memcpy(g_rx, c->tail, c->tlen);
    struct iovec iov = {g_rx + c->tlen, RECV_CHUNK};
    char cbuf[256];
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = g_kts ? cbuf : NULL;
    mh.msg_controllen = g_kts ? sizeof(cbuf) : 0;
    ssize_t n = recvmsg(c->fd, &mh, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        if (c->state != ST_CLOSED)
            fprintf(stderr, "loadgen: member %d: connection closed by server\n", c->idx);
        conn_close(c);
        return;
    }
    if (n < 0) return;
    if (g_quickack) {
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    }
    now = now_ns();
    if (g_kts) {
        /* When the data reached the socket, not when this loop got to it: the
         * generator's own queueing is kept out of the latency. */
        int found = 0;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
                struct timespec ts;
                memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
                int64_t rt = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
                int64_t mono = rt - g_rt_offset;
                if (mono > 0 && (uint64_t)mono <= now + 1000000ULL && (uint64_t)mono + 5000000000ULL > now) {
                    now = (uint64_t)mono < now ? (uint64_t)mono : now;
                    found = 1;
                }
            }
        }
        if (found) g_kts_used++;
        else g_kts_fallback++;
    }
    size_t len = c->tlen + (size_t)n;
    size_t off = 0;
    if (c->state == ST_WSHS) {
        char *hdr_end = memmem(g_rx, len, "\r\n\r\n", 4);
        if (!hdr_end) {
            save_tail(c, g_rx, len);
            return;
        }
        if (len < 12 || memcmp(g_rx + 9, "101", 3) != 0) {
            fprintf(stderr, "loadgen: websocket handshake refused: %.*s\n",
                    (int)(hdr_end - g_rx), g_rx);
            g_failed++;
            conn_close(c);
            return;
        }
        off = (size_t)(hdr_end - g_rx) + 4;
        send_register(c);
    }
    size_t used;
    if (g_ws) used = handle_frames(c, g_rx + off, len - off, now);
    else used = handle_lines(c, g_rx + off, len - off, now);
    if (c->state == ST_CLOSED) return;
    save_tail(c, g_rx + off + used, len - off - used);
}

/* One event-loop turn: wait at most timeout_ms, handle everything, flush. */
static void loop_once(int timeout_ms) {
    static struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(g_epfd, evs, MAX_EVENTS, timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return;
        die("epoll_wait: %s", strerror(errno));
    }
    uint64_t now = now_ns();
    if (g_kts) {
        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        g_rt_offset = (int64_t)rt.tv_sec * 1000000000LL + rt.tv_nsec - (int64_t)now_ns();
    }
    for (int i = 0; i < n; i++) {
        conn_t *c = &g_conns[evs[i].data.u32];
        if (c->state == ST_CLOSED) continue;
        if (c->state == ST_CONNECTING) {
            if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                on_connected(c);
                if (c->state != ST_CLOSED && c->wlen == 0) arm(c, 0);
            }
            continue;
        }
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c, now);
        if (c->state != ST_CLOSED && (evs[i].events & EPOLLOUT)) flush_conn(c);
    }
    flush_all();
}

static int ms_until(uint64_t deadline) {
    uint64_t now = now_ns();
    if (now >= deadline) return 0;
    uint64_t ms = (deadline - now + 999999ULL) / 1000000ULL;
    return ms > 1000 ? 1000 : (int)ms;
}

static void phase_connect(double timeout_s) {
    uint64_t t0 = now_ns();
    uint64_t deadline = t0 + (uint64_t)(timeout_s * 1e9);
    while (g_registered < g_n && now_ns() < deadline) {
        while (g_started < g_n && (g_started - g_registered - g_failed) < g_inflight)
            start_connect(g_started);
        flush_all();
        if (g_failed > 0) die("%d of %d connections failed", g_failed, g_started);
        if (g_closed > 0) die("%d connections closed during registration", g_closed);
        loop_once(ms_until(deadline));
    }
    if (g_registered < g_n) die("only %d of %d members registered in %.0fs", g_registered, g_n, timeout_s);
    printf("REGISTERED {\"members\": %d, \"seconds\": %.3f}\n", g_n, (now_ns() - t0) / 1e9);
    fflush(stdout);
}

static void barrier(double timeout_s) {
    uint64_t deadline = now_ns() + (uint64_t)(timeout_s * 1e9);
    g_barrier_id++;
    g_barrier_seen = 0;
    out_fmt(&g_conns[0], "PRIVMSG %s :B %d", g_chan, g_barrier_id);
    flush_all();
    while (g_barrier_seen < g_n - 1 - g_closed && now_ns() < deadline) loop_once(ms_until(deadline));
    if (g_barrier_seen < g_n - 1 - g_closed) die("barrier: %d of %d members", g_barrier_seen, g_n - 1);
}

static void phase_join(double timeout_s) {
    uint64_t t0 = now_ns();
    uint64_t deadline = t0 + (uint64_t)(timeout_s * 1e9);
    /* join in waves so that the server's accept and join storm stays bounded */
    int next = 0;
    while (g_joined < g_n && now_ns() < deadline) {
        while (next < g_n && next - g_joined < g_inflight) {
            conn_t *c = &g_conns[next++];
            c->state = ST_JOINING;
            out_fmt(c, "JOIN %s", g_chan);
        }
        flush_all();
        if (g_closed > 0) die("%d connections closed while joining", g_closed);
        loop_once(ms_until(deadline));
    }
    if (g_joined < g_n) die("only %d of %d members joined in %.0fs", g_joined, g_n, timeout_s);
    double join_s = (now_ns() - t0) / 1e9;
    barrier(timeout_s);
    printf("JOINED {\"members\": %d, \"seconds\": %.3f, \"barrier_seconds\": %.3f}\n", g_n, join_s,
           (now_ns() - t0) / 1e9 - join_s);
    fflush(stdout);
}

static const char PAD[] =
    "the quick brown fox jumps over the lazy dog while the server fans out every line to all "
    "members of the channel as fast as it can";

static void emit(conn_t *c, int sender, uint64_t seq) {
    char buf[512];
    uint64_t ts = now_ns();
    if (g_first_send == 0) g_first_send = ts;
    int n = snprintf(buf, sizeof(buf), "PRIVMSG %s :T %d %d %llu %llu %.*s", g_chan, g_run, sender,
                     (unsigned long long)seq, (unsigned long long)ts, g_pad, PAD);
    out_line(c, buf, (size_t)n);
    c->sent++;
}

static void reset_stats(void) {
    g_run++;
    g_deliv = 0;
    g_last_recv = 0;
    g_first_send = 0;
    memset(g_hist, 0, sizeof(uint32_t) * NBUCKETS);
    g_hist_over = 0;
    g_kts_used = 0;
    g_kts_fallback = 0;
    g_lat_max = 0;
    g_lat_sum = 0;
    for (int i = 0; i < g_n; i++) {
        g_conns[i].sent = 0;
        g_conns[i].delivered = 0;
    }
}

static double pct(double q) {
    if (g_deliv == 0) return -1;
    uint64_t want = (uint64_t)(q * (double)g_deliv);
    if (want >= g_deliv) want = g_deliv - 1;
    uint64_t acc = 0;
    for (uint64_t b = 0; b < NBUCKETS; b++) {
        acc += g_hist[b];
        if (acc > want) return ((double)b + 0.5) * BUCKET_NS / 1e6;
    }
    return g_lat_max / 1e6;
}

static void report(const char *mode, int senders, uint64_t sent, double param, uint64_t t_start,
                   uint64_t t_send_end, double cpu0, int closed0) {
    uint64_t t_end = now_ns();
    double cpu = cpu_seconds() - cpu0;
    uint64_t expected = sent * (uint64_t)(g_n - 1);
    double span = (g_last_recv > g_first_send && g_first_send) ? (g_last_recv - g_first_send) / 1e9 : 0;
    printf("RESULT {\"mode\": \"%s\", \"members\": %d, \"senders\": %d, \"param\": %.3f, "
           "\"sent\": %llu, \"expected\": %llu, \"delivered\": %llu, \"complete\": %s, "
           "\"span_s\": %.6f, \"send_s\": %.6f, \"wall_s\": %.6f, "
           "\"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, \"p999_ms\": %.3f, "
           "\"max_ms\": %.3f, \"mean_ms\": %.3f, \"gen_cpu_s\": %.6f, \"closed\": %d, "
           "\"bad_lines\": %llu, \"kernel_ts_reads\": %llu, \"clock_reads\": %llu}\n",
           mode, g_n, senders, param, (unsigned long long)sent, (unsigned long long)expected,
           (unsigned long long)g_deliv, g_deliv >= expected ? "true" : "false", span,
           (t_send_end - t_start) / 1e9, (t_end - t_start) / 1e9, pct(0.5), pct(0.9), pct(0.99),
           pct(0.999), g_lat_max / 1e6, g_deliv ? (double)g_lat_sum / (double)g_deliv / 1e6 : -1.0,
           cpu, g_closed - closed0, (unsigned long long)g_bad_lines,
           (unsigned long long)g_kts_used, (unsigned long long)g_kts_fallback);
    fflush(stdout);
}

static void phase_burst(int senders, uint64_t k, uint64_t window, double max_s, double drain_s) {
    if (senders > g_n) senders = g_n;
    reset_stats();
    double cpu0 = cpu_seconds();
    int closed0 = g_closed;
    uint64_t per = (uint64_t)(g_n - 1);
    uint64_t refill = window / 2;
    uint64_t t_start = now_ns();
    uint64_t send_deadline = t_start + (uint64_t)(max_s * 1e9);
    uint64_t t_send_end = 0;
    uint64_t sent = 0;
    uint64_t drain_deadline = 0;
    for (;;) {
        uint64_t now = now_ns();
        if (!t_send_end) {
            int all_done = 1;
            if (now < send_deadline) {
                for (int s = 0; s < senders; s++) {
                    conn_t *c = &g_conns[s];
                    if (c->state == ST_CLOSED) continue;
                    /* Refill only once half the window is fully delivered, then
                     * up to the full window in one write: the server sees
                     * bursts of lines, not a trickle that depends on timing. */
                    if (c->sent * per - c->delivered <= refill * per) {
                        while (c->sent < k && c->sent * per - c->delivered < window * per) {
                            emit(c, s, c->sent);
                            sent++;
                        }
                    }
                    if (c->sent < k) all_done = 0;
                }
            }
            if (all_done || now >= send_deadline) {
                t_send_end = now;
                drain_deadline = now + (uint64_t)(drain_s * 1e9);
            }
            flush_all();
        }
        if (t_send_end && (g_deliv >= sent * per || now >= drain_deadline)) break;
        loop_once(ms_until(t_send_end ? drain_deadline : send_deadline));
    }
    report("burst", senders, sent, (double)k, t_start, t_send_end, cpu0, closed0);
}

static void phase_rate(int senders, double rate, double secs, double drain_s) {
    if (senders > g_n) senders = g_n;
    reset_stats();
    double cpu0 = cpu_seconds();
    int closed0 = g_closed;
    uint64_t per = (uint64_t)(g_n - 1);
    uint64_t total = (uint64_t)(rate * secs + 0.5);
    double interval = 1e9 / rate;
    uint64_t t_start = now_ns() + 1000000ULL;
    uint64_t t_send_end = 0, drain_deadline = 0;
    uint64_t k = 0;
    for (;;) {
        uint64_t now = now_ns();
        if (!t_send_end) {
            while (k < total && now >= t_start + (uint64_t)(interval * (double)k)) {
                int s = (int)(k % (uint64_t)senders);
                if (g_conns[s].state != ST_CLOSED) emit(&g_conns[s], s, g_conns[s].sent);
                k++;
            }
            flush_all();
            if (k >= total) {
                t_send_end = now;
                drain_deadline = now + (uint64_t)(drain_s * 1e9);
            }
        }
        if (t_send_end && (g_deliv >= k * per || now >= drain_deadline)) break;
        uint64_t next = t_send_end ? drain_deadline : t_start + (uint64_t)(interval * (double)k);
        loop_once(ms_until(next));
    }
    report("rate", senders, k, rate, t_start, t_send_end, cpu0, closed0);
}

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen [--ws] --host 127.0.0.1 --port P --members N [--channel #c] "
            "[--prefix m] [--pad 40] [--inflight 256] [--quickack] [--no-kernel-ts]\n");
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--ws")) g_ws = 1;
        else if (!strcmp(a, "--host") && v) g_host = argv[++i];
        else if (!strcmp(a, "--port") && v) g_port = atoi(argv[++i]);
        else if (!strcmp(a, "--members") && v) g_n = atoi(argv[++i]);
        else if (!strcmp(a, "--channel") && v) g_chan = argv[++i];
        else if (!strcmp(a, "--prefix") && v) g_prefix = argv[++i];
        else if (!strcmp(a, "--pad") && v) g_pad = atoi(argv[++i]);
        else if (!strcmp(a, "--inflight") && v) g_inflight = atoi(argv[++i]);
        else if (!strcmp(a, "--quickack")) g_quickack = 1;
        else if (!strcmp(a, "--no-kernel-ts")) g_kts = 0;
        else usage();
    }
    if (g_n < 2 || g_n > 100000 || g_port <= 0) usage();
    if (g_pad < 0) g_pad = 0;
    if (g_inflight < 1) g_inflight = 1;
    if (g_pad > (int)sizeof(PAD) - 1) g_pad = (int)sizeof(PAD) - 1;
    signal(SIGPIPE, SIG_IGN);
    g_conns = calloc((size_t)g_n, sizeof(conn_t));
    g_dirty = calloc((size_t)g_n, sizeof(int));
    g_rx = malloc(RECV_CHUNK + MAX_TAIL + 16);
    g_hist = calloc(NBUCKETS, sizeof(uint32_t));
    if (!g_conns || !g_dirty || !g_rx || !g_hist) die("out of memory");
    for (int i = 0; i < g_n; i++) {
        g_conns[i].idx = i;
        g_conns[i].fd = -1;
        g_conns[i].tail = malloc(MAX_TAIL);
        g_conns[i].lbuf = g_ws ? malloc(MAX_TAIL) : NULL;
        if (!g_conns[i].tail || (g_ws && !g_conns[i].lbuf)) die("out of memory");
    }
    g_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g_epfd < 0) die("epoll_create1: %s", strerror(errno));
    phase_connect(120.0);

    char cmd[256];
    int guard = 0;
    while (fgets(cmd, sizeof(cmd), stdin) && guard++ < 10000) {
        int senders = 0;
        unsigned long long k = 0, window = 0;
        double secs = 0, rate = 0, drain = 15.0;
        if (!strncmp(cmd, "JOIN", 4)) {
            phase_join(120.0);
        } else if (sscanf(cmd, "BURST %d %llu %llu %lf %lf", &senders, &k, &window, &secs, &drain) >= 4) {
            phase_burst(senders, k, window, secs, drain);
        } else if (sscanf(cmd, "RATE %d %lf %lf %lf", &senders, &rate, &secs, &drain) >= 3) {
            phase_rate(senders, rate, secs, drain);
        } else if (!strncmp(cmd, "QUIT", 4)) {
            break;
        } else {
            printf("ERROR {\"error\": \"unknown command\"}\n");
            fflush(stdout);
        }
    }
    for (int i = 0; i < g_n; i++) {
        conn_t *c = &g_conns[i];
        if (c->state == ST_CLOSED || c->fd < 0) continue;
        out_line(c, "QUIT :bench done", 16);
        flush_conn(c);
        close(c->fd);
    }
    printf("BYE {\"closed\": %d}\n", g_closed);
    return 0;
}
