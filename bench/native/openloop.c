/*
 * openloop: an open-loop HTTP/1.1 load generator for bench/openloop.py (wrk2 is not packaged
 * in Debian). One thread, epoll, non-blocking sockets; gcc and the C library only.
 *
 *   openloop --port P --rate R --connections N --requests FILE --out FILE
 *            [--drain SECONDS] [--progress SECONDS]
 *
 * FILE (--requests) holds pre-built raw HTTP/1.1 requests, each one prefixed by its length as
 * a 4-byte little-endian unsigned integer. The N keep-alive connections to 127.0.0.1:P are
 * opened before the clock starts; then request i is due at t0 + i / R (CLOCK_MONOTONIC, ns), a
 * timerfd waking the loop at each due time (no busy loop). A due request goes to the idle
 * connection that has been idle longest; when none is idle it waits in a FIFO, and its latency
 * still counts from its due time (no coordinated omission). One request at a time per
 * connection (no pipelining).
 *
 * Responses: status line, headers, a Content-Length body (none for 1xx, 204, 304). Chunked or
 * length-less responses are an error for that request (status 0) and the connection is opened
 * again; so is a connection the server closed with a request in flight. `Connection: close`
 * (or HTTP/1.0 without keep-alive) is honoured by reconnecting after the response.
 *
 * Output (--out): one 40-byte little-endian record per released request, in index order:
 *   uint32 index, int32 status (HTTP status; 0 transport error; -1 never answered),
 *   int64 due_ns, released_ns, sent_ns, done_ns (all relative to t0; -1 when it did not happen)
 * released_ns is when the loop, woken by its timer, saw the request due ("sched lag" is
 * released - due: the generator's own lateness); sent_ns is the first write() of the request
 * (send lag = sent - due, including the wait for an idle connection); done_ns is when the end
 * of the response was read. Requests still unanswered --drain seconds after the last due time
 * are recorded with status -1 and done -1.
 *
 * stdout: one JSON line at the end (counts and transport errors by kind). stderr: progress
 * every --progress seconds and errors. Exit 0 after a run (whatever the server answered),
 * 2 on bad arguments, an unreadable file or a failed initial connection.
 *
 * Build: gcc -O2 -Wall -Wextra -Werror -o openloop openloop.c
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
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "openloop writes and reads its files in the host's byte order: little-endian only"
#endif

#define NS 1000000000LL
#define RBUF_MIN 4096
#define RBUF_MAX (16 << 20)
#define RETRY_NS (100 * 1000000LL)
#define CONNECT_TIMEOUT_NS (10 * NS)
#define MAX_EVENTS 256
#define TIMER_TAG UINT32_MAX

struct record {
    uint32_t index;
    int32_t status;
    int64_t due_ns;
    int64_t released_ns;
    int64_t sent_ns;
    int64_t done_ns;
};
_Static_assert(sizeof(struct record) == 40, "record layout");

struct request {
    const char *data;
    uint32_t len;
};

enum state { CONNECTING, IDLE, BUSY, RETRY };

struct conn {
    int fd;
    enum state state;
    int64_t req;       /* index of the request in flight, -1 if none */
    uint32_t written;  /* bytes of it written so far */
    int want_out;      /* EPOLLOUT registered */
    char *rbuf;
    size_t rlen, rcap;
    size_t scanned;    /* bytes of rbuf already searched for the end of the headers */
    int64_t retry_at;
    int64_t idle_since;
    int in_idle;
    int prev, next;    /* idle list links */
};

enum err_kind { E_CONNECT, E_CLOSED, E_RESET, E_WRITE, E_PROTOCOL, E_UNSUPPORTED, E_KINDS };
static const char *err_names[E_KINDS] = {
    "connect", "closed_in_flight", "read_error", "write_error", "bad_response",
    "chunked_or_no_length",
};

static struct {
    int port;
    double rate;
    int connections;
    const char *requests_path;
    const char *out_path;
    double drain_s;
    double progress_s;
    double idle_max_s;
} opt = {0, 0.0, 0, NULL, NULL, 60.0, 5.0, 4.0};

static struct request *reqs;
static int64_t nreqs;
static struct record *recs;
static struct conn *conns;
static int epfd, tfd;
static int64_t t0;
static int idle_head = -1, idle_tail = -1, idle_count;
static int64_t released, assigned, completed, answered;
static int64_t errors[E_KINDS];
static int64_t reconnects, retrying, reopened_idle;
static struct sockaddr_in addr;

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("openloop: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static int64_t due_of(int64_t i) { return t0 + (int64_t)((double)i * 1e9 / opt.rate + 0.5); }

/* --- idle list: FIFO, so every connection is used in turn (none idles into the server's
 * keep-alive timeout while others work) ---------------------------------------------------- */

static void idle_push(int c) {
    conns[c].state = IDLE;
    conns[c].in_idle = 1;
    conns[c].idle_since = now_ns();
    conns[c].next = -1;
    conns[c].prev = idle_tail;
    if (idle_tail >= 0)
        conns[idle_tail].next = c;
    else
        idle_head = c;
    idle_tail = c;
    idle_count++;
}

static void idle_remove(int c) {
    struct conn *k = &conns[c];
    if (k->prev >= 0)
        conns[k->prev].next = k->next;
    else
        idle_head = k->next;
    if (k->next >= 0)
        conns[k->next].prev = k->prev;
    else
        idle_tail = k->prev;
    k->prev = k->next = -1;
    k->in_idle = 0;
    idle_count--;
}

/* --- connections ------------------------------------------------------------------------- */

static void set_events(int c, uint32_t events, int op) {
    struct epoll_event ev = {.events = events, .data = {.u32 = (uint32_t)c}};
    if (epoll_ctl(epfd, op, conns[c].fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
}

static void became_connected(int c) {
    struct conn *k = &conns[c];
    int one = 1;
    setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_events(c, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
    k->want_out = 0;
    idle_push(c);
}

/* Start a non-blocking connect; 0 on success so far, else errno. */
static int open_conn(int c) {
    struct conn *k = &conns[c];
    k->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (k->fd < 0) die("socket: %s", strerror(errno));
    k->req = -1;
    k->rlen = k->scanned = 0;
    k->prev = k->next = -1;
    k->state = CONNECTING;
    k->want_out = 1;
    set_events(c, EPOLLOUT | EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
    if (connect(k->fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
        became_connected(c);
        return 0;
    }
    if (errno == EINPROGRESS) return 0;
    return errno;
}

static void finish(int64_t i, int status, int64_t when) {
    recs[i].status = status;
    recs[i].done_ns = when - t0;
    completed++;
    if (status > 0) answered++;
}

static void schedule_retry(int c, int64_t now) {
    conns[c].state = RETRY;
    conns[c].retry_at = now + RETRY_NS;
    retrying++;
}

/* Drop connection c (after an error, a close by the server or `Connection: close`) and open
 * it again; a request in flight is finished with status 0 and counted under `kind`. */
static void reconnect(int c, int kind, int64_t now) {
    struct conn *k = &conns[c];
    if (k->in_idle) idle_remove(c);
    if (k->req >= 0) {
        finish(k->req, 0, now);
        k->req = -1;
    }
    if (kind >= 0) errors[kind]++;
    close(k->fd);
    k->fd = -1;
    reconnects++;
    int err = open_conn(c);
    if (err) {
        close(k->fd);
        k->fd = -1;
        errors[E_CONNECT]++;
        schedule_retry(c, now);
    }
}

/* --- requests and responses ---------------------------------------------------------------- */

static void write_some(int c, int64_t now) {
    struct conn *k = &conns[c];
    const struct request *r = &reqs[k->req];
    while (k->written < r->len) {
        ssize_t n = send(k->fd, r->data + k->written, r->len - k->written, MSG_NOSIGNAL);
        if (n > 0) {
            k->written += (uint32_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!k->want_out) {
                set_events(c, EPOLLIN | EPOLLOUT | EPOLLRDHUP, EPOLL_CTL_MOD);
                k->want_out = 1;
            }
            return;
        }
        reconnect(c, E_WRITE, now);
        return;
    }
    if (k->want_out) {
        set_events(c, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
        k->want_out = 0;
    }
}

static void start_request(int c, int64_t i) {
    struct conn *k = &conns[c];
    k->state = BUSY;
    k->req = i;
    k->written = 0;
    int64_t now = now_ns();
    recs[i].sent_ns = now - t0;
    write_some(c, now);
}

static int header_is(const char *line, size_t len, const char *name, const char **value,
                     size_t *vlen) {
    size_t n = strlen(name);
    if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0) return 0;
    const char *v = line + n + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
    *value = v;
    *vlen = (size_t)(end - v);
    return 1;
}

static int contains_token(const char *v, size_t len, const char *token) {
    size_t n = strlen(token);
    for (size_t i = 0; i + n <= len; i++)
        if (strncasecmp(v + i, token, n) == 0) return 1;
    return 0;
}

/* Parse the response head in k->rbuf[0..head_len). Returns 0 and fills the outputs, or an
 * error kind. */
static int parse_head(const char *buf, size_t head_len, int *status, int64_t *body, int *close_after) {
    const char *p = buf, *end = buf + head_len - 2; /* up to the final empty line's CRLF */
    const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    if (!eol) eol = end;
    if (eol - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ') return E_PROTOCOL;
    int minor = p[7] - '0';
    int s = 0;
    for (int j = 9; j < 12; j++) {
        if (p[j] < '0' || p[j] > '9') return E_PROTOCOL;
        s = s * 10 + (p[j] - '0');
    }
    if (s < 100) return E_PROTOCOL;
    int keep_alive = 0, closing = (minor == 0), chunked = 0;
    int64_t length = -1;
    for (p = eol + 2; p < end; p = eol + 2) {
        eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol) eol = end;
        const char *v;
        size_t vlen;
        size_t len = (size_t)(eol - p);
        if (header_is(p, len, "content-length", &v, &vlen)) {
            if (vlen == 0 || vlen > 12) return E_PROTOCOL;
            int64_t n = 0;
            for (size_t j = 0; j < vlen; j++) {
                if (v[j] < '0' || v[j] > '9') return E_PROTOCOL;
                n = n * 10 + (v[j] - '0');
            }
            if (length >= 0 && length != n) return E_PROTOCOL;
            length = n;
        } else if (header_is(p, len, "transfer-encoding", &v, &vlen)) {
            chunked = 1;
        } else if (header_is(p, len, "connection", &v, &vlen)) {
            if (contains_token(v, vlen, "close")) closing = 1;
            if (contains_token(v, vlen, "keep-alive")) keep_alive = 1;
        }
    }
    if (minor == 0 && keep_alive) closing = 0;
    if (s < 200 || s == 204 || s == 304) length = 0;
    else if (chunked || length < 0) return E_UNSUPPORTED;
    if (length > RBUF_MAX) return E_UNSUPPORTED;
    *status = s;
    *body = length;
    *close_after = closing;
    return 0;
}

/* Consume every complete response in the buffer. */
static void parse_responses(int c, int64_t now) {
    struct conn *k = &conns[c];
    for (;;) {
        if (k->rlen == 0) return;
        if (k->req < 0 || k->written < reqs[k->req].len) { /* an answer to nothing */
            reconnect(c, E_PROTOCOL, now);
            return;
        }
        size_t from = k->scanned > 3 ? k->scanned - 3 : 0;
        char *hend = memmem(k->rbuf + from, k->rlen - from, "\r\n\r\n", 4);
        if (!hend) {
            k->scanned = k->rlen;
            return;
        }
        size_t head_len = (size_t)(hend - k->rbuf) + 4;
        int status, close_after;
        int64_t body;
        int err = parse_head(k->rbuf, head_len, &status, &body, &close_after);
        if (err) {
            reconnect(c, err, now);
            return;
        }
        size_t total = head_len + (size_t)body;
        if (k->rlen < total) {
            k->scanned = head_len - 1; /* the head is parsed again next time: cheap */
            if (total > k->rcap) {
                size_t cap = k->rcap;
                while (cap < total) cap *= 2;
                char *grown = realloc(k->rbuf, cap);
                if (!grown) die("out of memory");
                k->rbuf = grown;
                k->rcap = cap;
            }
            return;
        }
        memmove(k->rbuf, k->rbuf + total, k->rlen - total);
        k->rlen -= total;
        k->scanned = 0;
        if (status < 200) continue; /* an interim answer: the real one follows */
        finish(k->req, status, now);
        k->req = -1;
        if (close_after) {
            if (k->rlen) {
                reconnect(c, E_PROTOCOL, now);
            } else {
                reconnect(c, -1, now);
            }
            return;
        }
        if (k->rlen) { /* bytes beyond the answer with nothing in flight */
            reconnect(c, E_PROTOCOL, now);
            return;
        }
        idle_push(c);
        return;
    }
}

static void on_readable(int c, int64_t now) {
    struct conn *k = &conns[c];
    for (;;) {
        if (k->rlen == k->rcap) {
            if (k->rcap >= RBUF_MAX) {
                reconnect(c, E_UNSUPPORTED, now);
                return;
            }
            char *grown = realloc(k->rbuf, k->rcap * 2);
            if (!grown) die("out of memory");
            k->rbuf = grown;
            k->rcap *= 2;
        }
        ssize_t n = recv(k->fd, k->rbuf + k->rlen, k->rcap - k->rlen, 0);
        if (n > 0) {
            k->rlen += (size_t)n;
            if (k->rlen < k->rcap) break; /* drained: level-triggered epoll tells us of more */
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        /* EOF or an error: a quiet reopen when idle (keep-alive timeout), an error if busy */
        parse_responses(c, now);
        if (k->state == BUSY || k->state == IDLE)
            reconnect(c, k->req >= 0 ? (n == 0 ? E_CLOSED : E_RESET) : -1, now);
        return;
    }
    parse_responses(c, now);
}

static void on_event(int c, uint32_t events, int64_t now) {
    struct conn *k = &conns[c];
    if (k->state == CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err == 0 && (events & (EPOLLERR | EPOLLHUP))) err = ECONNREFUSED;
        if (err) {
            close(k->fd);
            k->fd = -1;
            errors[E_CONNECT]++;
            schedule_retry(c, now);
            return;
        }
        became_connected(c);
        return;
    }
    if (k->state == RETRY) return;
    if ((events & EPOLLOUT) && k->state == BUSY && k->req >= 0 && k->written < reqs[k->req].len) {
        write_some(c, now);
        if (k->state != BUSY) return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(c, now);
}

/* --- set-up ------------------------------------------------------------------------------ */

static void load_requests(void) {
    int fd = open(opt.requests_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("cannot open %s: %s", opt.requests_path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) die("stat %s: %s", opt.requests_path, strerror(errno));
    size_t size = (size_t)st.st_size;
    char *data = malloc(size ? size : 1);
    if (!data) die("out of memory for %zu bytes of requests", size);
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) die("read %s: %s", opt.requests_path, n < 0 ? strerror(errno) : "short");
        got += (size_t)n;
    }
    close(fd);
    size_t cap = 1024, off = 0;
    reqs = malloc(cap * sizeof *reqs);
    if (!reqs) die("out of memory");
    while (off < size) {
        if (size - off < 4) die("%s: truncated length at byte %zu", opt.requests_path, off);
        uint32_t len;
        memcpy(&len, data + off, 4);
        off += 4;
        if (len == 0 || len > size - off)
            die("%s: bad request length %u at byte %zu", opt.requests_path, len, off - 4);
        if ((size_t)nreqs == cap) {
            cap *= 2;
            reqs = realloc(reqs, cap * sizeof *reqs);
            if (!reqs) die("out of memory");
        }
        reqs[nreqs].data = data + off;
        reqs[nreqs].len = len;
        nreqs++;
        off += len;
    }
    if (nreqs == 0) die("%s: no requests", opt.requests_path);
}

static void raise_fd_limit(int needed) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)needed) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)needed ? rl.rlim_max : (rlim_t)needed;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)needed)
            die("%d connections need %d file descriptors; the limit is %llu (ulimit -n)",
                opt.connections, needed, (unsigned long long)rl.rlim_cur);
    }
}

/* Open every connection; die unless all are established within CONNECT_TIMEOUT_NS. */
static void connect_all(void) {
    for (int c = 0; c < opt.connections; c++) {
        conns[c].rcap = RBUF_MIN;
        conns[c].rbuf = malloc(RBUF_MIN);
        if (!conns[c].rbuf) die("out of memory");
        int err = open_conn(c);
        if (err)
            die("cannot connect to 127.0.0.1:%d (connection %d of %d): %s", opt.port, c + 1,
                opt.connections, strerror(err));
    }
    int64_t deadline = now_ns() + CONNECT_TIMEOUT_NS;
    struct epoll_event events[MAX_EVENTS];
    while (idle_count < opt.connections) {
        int64_t left = deadline - now_ns();
        if (left <= 0)
            die("only %d of %d connections to 127.0.0.1:%d were established within %lld s",
                idle_count, opt.connections, opt.port, CONNECT_TIMEOUT_NS / NS);
        int n = epoll_wait(epfd, events, MAX_EVENTS, (int)(left / 1000000) + 1);
        if (n < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
        for (int e = 0; e < n; e++) {
            int c = (int)events[e].data.u32;
            struct conn *k = &conns[c];
            if (k->state != CONNECTING) {
                /* an established connection closed before the start: the server refuses us */
                die("connection %d to 127.0.0.1:%d closed before the run started", c + 1,
                    opt.port);
            }
            int err = 0;
            socklen_t len = sizeof err;
            if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
            if (err == 0 && (events[e].events & (EPOLLERR | EPOLLHUP))) err = ECONNREFUSED;
            if (err)
                die("cannot connect to 127.0.0.1:%d (connection %d of %d): %s", opt.port, c + 1,
                    opt.connections, strerror(err));
            if (events[e].events & EPOLLOUT) became_connected(c);
        }
    }
}

static double parse_number(const char *name, const char *value, double min) {
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end || !(v >= min)) die("bad %s: %s", name, value);
    return v;
}

static void parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) die("%s needs a value (see the comment at the top of openloop.c)", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--port")) opt.port = (int)parse_number(a, v, 1);
        else if (!strcmp(a, "--rate")) opt.rate = parse_number(a, v, 1e-3);
        else if (!strcmp(a, "--connections")) opt.connections = (int)parse_number(a, v, 1);
        else if (!strcmp(a, "--requests")) opt.requests_path = v;
        else if (!strcmp(a, "--out")) opt.out_path = v;
        else if (!strcmp(a, "--drain")) opt.drain_s = parse_number(a, v, 0);
        else if (!strcmp(a, "--progress")) opt.progress_s = parse_number(a, v, 0.1);
        else if (!strcmp(a, "--idle-max")) opt.idle_max_s = parse_number(a, v, 0);
        else die("unknown option %s", a);
    }
    if (!opt.port || opt.port > 65535 || opt.rate <= 0 || !opt.connections ||
        !opt.requests_path || !opt.out_path)
        die("usage: openloop --port P --rate R --connections N --requests FILE --out FILE "
            "[--drain S] [--progress S] [--idle-max S]");
}

static void arm_timer(int64_t at) {
    struct itimerspec its = {.it_value = {.tv_sec = at / NS, .tv_nsec = at % NS}};
    if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        die("timerfd_settime: %s", strerror(errno));
}

static void progress(int64_t now) {
    fprintf(stderr,
            "openloop: %5.1f s: due %lld/%lld, sent %lld, answered %lld, in flight %lld, "
            "waiting for a connection %lld, transport errors %lld\n",
            (double)(now - t0) / 1e9, (long long)released, (long long)nreqs,
            (long long)assigned, (long long)answered, (long long)(assigned - completed),
            (long long)(released - assigned), (long long)(completed - answered));
}

static void write_output(void) {
    FILE *f = fopen(opt.out_path, "wb");
    if (!f) die("cannot write %s: %s", opt.out_path, strerror(errno));
    if (released && fwrite(recs, sizeof *recs, (size_t)released, f) != (size_t)released)
        die("write %s: %s", opt.out_path, strerror(errno));
    if (fclose(f) != 0) die("close %s: %s", opt.out_path, strerror(errno));
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    load_requests();
    raise_fd_limit(opt.connections + 16);
    recs = calloc((size_t)nreqs, sizeof *recs);
    conns = calloc((size_t)opt.connections, sizeof *conns);
    if (!recs || !conns) die("out of memory");
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opt.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epfd < 0 || tfd < 0) die("epoll/timerfd: %s", strerror(errno));
    struct epoll_event tev = {.events = EPOLLIN, .data = {.u32 = TIMER_TAG}};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev) < 0) die("epoll_ctl: %s", strerror(errno));

    connect_all();

    t0 = now_ns() + 50 * 1000000LL; /* connections are open: the schedule starts */
    for (int64_t i = 0; i < nreqs; i++) {
        recs[i].index = (uint32_t)i;
        recs[i].status = -1;
        recs[i].due_ns = due_of(i) - t0;
        recs[i].released_ns = recs[i].sent_ns = recs[i].done_ns = -1;
    }
    int64_t last_due = due_of(nreqs - 1);
    int64_t drain_deadline = last_due + (int64_t)(opt.drain_s * 1e9);
    int64_t progress_every = (int64_t)(opt.progress_s * 1e9);
    int64_t next_progress = t0 + progress_every;
    int64_t idle_max_ns = (int64_t)(opt.idle_max_s * 1e9);
    int64_t armed = -1;
    struct epoll_event events[MAX_EVENTS];

    for (;;) {
        int64_t now = now_ns();
        while (released < nreqs && t0 + recs[released].due_ns <= now) {
            recs[released].released_ns = now - t0;
            released++;
        }
        /* The idle list is oldest first: a connection idle for --idle-max may be about to be
         * closed by the server (uvicorn's keep-alive timeout is 5 s), and a request written
         * to it then would fail. Open a fresh one instead, before it is needed; a few per
         * round, so that a burst of them does not delay due requests. */
        for (int r = 0; r < 8 && idle_max_ns && idle_head >= 0 &&
                        now - conns[idle_head].idle_since > idle_max_ns; r++) {
            reopened_idle++;
            reconnect(idle_head, -1, now);
        }
        while (assigned < released && idle_head >= 0) {
            int c = idle_head;
            idle_remove(c);
            start_request(c, assigned++);
        }
        if (retrying) {
            for (int c = 0; c < opt.connections; c++) {
                if (conns[c].state == RETRY && conns[c].retry_at <= now) {
                    retrying--;
                    int err = open_conn(c);
                    if (err) {
                        close(conns[c].fd);
                        conns[c].fd = -1;
                        errors[E_CONNECT]++;
                        schedule_retry(c, now);
                    }
                }
            }
        }
        if (released == nreqs && completed == nreqs) break;
        if (now >= drain_deadline) break;
        if (now >= next_progress) {
            progress(now);
            while (next_progress <= now) next_progress += progress_every;
        }
        /* sleep until the next due time (timerfd, ns) or the next other deadline (ms) */
        if (released < nreqs) {
            int64_t next_due = t0 + recs[released].due_ns;
            if (next_due != armed) {
                arm_timer(next_due);
                armed = next_due;
            }
        }
        int64_t wake = next_progress < drain_deadline ? next_progress : drain_deadline;
        if (idle_max_ns && idle_head >= 0 && conns[idle_head].idle_since + idle_max_ns < wake)
            wake = conns[idle_head].idle_since + idle_max_ns + 1;
        if (retrying)
            for (int c = 0; c < opt.connections; c++)
                if (conns[c].state == RETRY && conns[c].retry_at < wake) wake = conns[c].retry_at;
        int64_t wait_ms = (wake - now + 999999) / 1000000;
        if (wait_ms > 60000) wait_ms = 60000;
        int n = epoll_wait(epfd, events, MAX_EVENTS, wait_ms > 0 ? (int)wait_ms : 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait: %s", strerror(errno));
        }
        now = now_ns();
        for (int e = 0; e < n; e++) {
            uint32_t tag = events[e].data.u32;
            if (tag == TIMER_TAG) {
                uint64_t ticks;
                if (read(tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
                    die("read timerfd: %s", strerror(errno));
                armed = -1; /* expired: re-armed on the next round */
                continue;
            }
            on_event((int)tag, events[e].events, now);
        }
    }

    int64_t end = now_ns();
    progress(end);
    write_output();
    printf("{\"requests\":%lld,\"released\":%lld,\"sent\":%lld,\"answered\":%lld,"
           "\"transport_errors\":%lld,\"unanswered\":%lld,\"reconnects\":%lld,"
           "\"reopened_idle\":%lld,\"schedule_s\":%.6f,\"drain_s\":%.3f,\"errors\":{",
           (long long)nreqs, (long long)released, (long long)assigned, (long long)answered,
           (long long)(completed - answered), (long long)(nreqs - completed),
           (long long)reconnects, (long long)reopened_idle, (double)(last_due - t0) / 1e9,
           (double)(end - last_due) / 1e9);
    int first = 1;
    for (int k = 0; k < E_KINDS; k++) {
        if (!errors[k]) continue;
        printf("%s\"%s\":%lld", first ? "" : ",", err_names[k], (long long)errors[k]);
        first = 0;
    }
    printf("}}\n");
    return 0;
}
