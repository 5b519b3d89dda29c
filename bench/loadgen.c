/* bench/loadgen.c - a small closed-loop HTTP/1.1 load generator (epoll, one thread, keep-alive).
 *
 * Each of -c connections sends the same request (a raw HTTP/1.1 request read from -f), waits for
 * the whole answer, checks it, and sends the next one. Answers are framed by Content-Length or
 * chunked transfer encoding. Per completed request it records the latency (request written ->
 * last body byte) and the time to the first body byte (for an SSE stream: the first event).
 *
 * Checks per answer: status 200; each -m substring is in the (de-chunked) body; the body length
 * is within [-b, -B]; with -n N, the body holds exactly N "data: " events. Anything else counts as
 * non2xx / bad_body; a connection error counts as an error (and the connection is reopened).
 *
 * Phases: -w seconds of warm-up (not recorded), then -d seconds measured. It prints "START" and
 * "END" lines (flushed) at the edges of the measured window, so a driver can sample /proc there,
 * then one JSON line with the results. All times are CLOCK_MONOTONIC.
 *
 * Build: gcc -O2 -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHECKS 8
#define MAX_BODY (16 * 1024 * 1024)
#define MAX_ERRORS 1000

enum { ST_WRITE, ST_HEAD, ST_BODY_CL, ST_CH_SIZE, ST_CH_DATA, ST_CH_CRLF, ST_CH_TRAILER };

typedef struct {
    int fd;
    int state;
    size_t wpos;
    char *rbuf;
    size_t rlen, rcap;
    char *body;
    size_t blen, bcap;
    int status;
    long clen;
    long chunk_left;
    int close_after;
    int got_first;
    uint64_t t_start, t_first;
} conn_t;

static const char *host = "127.0.0.1";
static int port = 0;
static int nconns = 1;
static double warmup_s = 1.0, duration_s = 5.0;
static char *req;
static size_t req_len;
static const char *checks[MAX_CHECKS];
static int nchecks;
static long min_len = 0, max_len = -1, want_events = -1;

static uint64_t *lat, *ttfb;
static size_t nrec, caprec;
static long n_errors, n_non2xx, n_bad, n_done_total;
static int printed_sample;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *msg) {
    perror(msg);
    exit(2);
}

static void grow(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return;
    size_t n = *cap ? *cap : 4096;
    while (n < need) n *= 2;
    if (n > MAX_BODY * 2) {
        fprintf(stderr, "loadgen: answer too large\n");
        exit(2);
    }
    *buf = realloc(*buf, n);
    if (!*buf) die("realloc");
    *cap = n;
}

static int open_conn(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static int ep;

static void reset_answer(conn_t *c) {
    c->rlen = 0;
    c->blen = 0;
    c->status = 0;
    c->clen = -1;
    c->chunk_left = 0;
    c->close_after = 0;
    c->got_first = 0;
}

static int send_request(conn_t *c) {
    c->state = ST_WRITE;
    c->wpos = 0;
    reset_answer(c);
    c->t_start = now_ns();
    while (c->wpos < req_len) {
        ssize_t n = write(c->fd, req + c->wpos, req_len - c->wpos);
        if (n > 0) {
            c->wpos += (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            return 0;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return -1;
        }
    }
    c->state = ST_HEAD;
    return 0;
}

static int start_conn(conn_t *c) {
    c->fd = open_conn();
    if (c->fd < 0) return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
    return send_request(c);
}

static void drop_conn(conn_t *c) {
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
}

static void append_body(conn_t *c, const char *p, size_t n) {
    if (n == 0) return;
    if (!c->got_first) {
        c->got_first = 1;
        c->t_first = now_ns();
    }
    grow(&c->body, &c->bcap, c->blen + n);
    memcpy(c->body + c->blen, p, n);
    c->blen += n;
}

static long count_events(const char *b, size_t n) {
    long k = 0;
    const char *p = b, *end = b + n;
    while (p < end) {
        const char *q = memmem(p, (size_t)(end - p), "data: ", 6);
        if (!q) break;
        if (q == b || q[-1] == '\n') k++;
        p = q + 6;
    }
    return k;
}

static int body_ok(conn_t *c) {
    if ((long)c->blen < min_len) return 0;
    if (max_len >= 0 && (long)c->blen > max_len) return 0;
    for (int i = 0; i < nchecks; i++)
        if (!memmem(c->body, c->blen, checks[i], strlen(checks[i]))) return 0;
    if (want_events >= 0 && count_events(c->body, c->blen) != want_events) return 0;
    return 1;
}

static uint64_t t_measure, t_end;

static void record(conn_t *c, uint64_t t_done) {
    n_done_total++;
    int ok = 1;
    if (c->status != 200) {
        n_non2xx++;
        ok = 0;
    } else if (!body_ok(c)) {
        n_bad++;
        ok = 0;
    }
    if (!ok && !printed_sample) {
        printed_sample = 1;
        fprintf(stderr, "loadgen: first failed answer: status %d, %zu body bytes: %.*s\n", c->status, c->blen,
                (int)(c->blen < 400 ? c->blen : 400), c->body ? c->body : "");
    }
    if (t_done >= t_measure && t_done < t_end) {
        if (nrec == caprec) {
            caprec = caprec ? caprec * 2 : 65536;
            lat = realloc(lat, caprec * sizeof *lat);
            ttfb = realloc(ttfb, caprec * sizeof *ttfb);
            if (!lat || !ttfb) die("realloc");
        }
        lat[nrec] = t_done - c->t_start;
        ttfb[nrec] = (c->got_first ? c->t_first : t_done) - c->t_start;
        nrec++;
    }
}

/* Parse what is in c->rbuf. Returns 1 when an answer is complete, 0 when more bytes are needed,
 * -1 on a protocol error. */
static int parse(conn_t *c) {
    size_t pos = 0;
    int done = 0;
    for (;;) {
        if (c->state == ST_HEAD) {
            char *e = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
            if (!e) break;
            size_t hlen = (size_t)(e - c->rbuf) + 4;
            if (c->rlen < 12 || memcmp(c->rbuf, "HTTP/1.", 7) != 0) return -1;
            c->status = atoi(c->rbuf + 9);
            int chunked = 0;
            c->clen = -1;
            char *line = memchr(c->rbuf, '\n', hlen) + 1;
            while (line < c->rbuf + hlen - 2) {
                char *nl = memchr(line, '\n', (size_t)(c->rbuf + hlen - line));
                if (!nl) break;
                size_t ll = (size_t)(nl - line);
                if (ll > 15 && strncasecmp(line, "content-length:", 15) == 0) c->clen = atol(line + 15);
                else if (ll > 18 && strncasecmp(line, "transfer-encoding:", 18) == 0 &&
                         memmem(line, ll, "chunked", 7))
                    chunked = 1;
                else if (ll > 11 && strncasecmp(line, "connection:", 11) == 0 && memmem(line, ll, "close", 5))
                    c->close_after = 1;
                line = nl + 1;
            }
            pos = hlen;
            if (chunked) c->state = ST_CH_SIZE;
            else if (c->clen >= 0) c->state = ST_BODY_CL;
            else return -1; /* close-delimited bodies are not expected from these servers */
        }
        if (c->state == ST_BODY_CL) {
            size_t want = (size_t)c->clen - c->blen;
            size_t avail = c->rlen - pos;
            size_t n = avail < want ? avail : want;
            append_body(c, c->rbuf + pos, n);
            pos += n;
            if (c->blen == (size_t)c->clen) done = 1;
            break;
        }
        if (c->state == ST_CH_SIZE) {
            char *e = memmem(c->rbuf + pos, c->rlen - pos, "\r\n", 2);
            if (!e) break;
            char *endp;
            long sz = strtol(c->rbuf + pos, &endp, 16);
            if (endp == c->rbuf + pos || sz < 0) return -1;
            pos = (size_t)(e - c->rbuf) + 2;
            if (sz == 0) {
                c->state = ST_CH_TRAILER;
            } else {
                c->chunk_left = sz;
                c->state = ST_CH_DATA;
            }
            continue;
        }
        if (c->state == ST_CH_DATA) {
            size_t avail = c->rlen - pos;
            size_t n = avail < (size_t)c->chunk_left ? avail : (size_t)c->chunk_left;
            append_body(c, c->rbuf + pos, n);
            pos += n;
            c->chunk_left -= (long)n;
            if (c->chunk_left > 0) break;
            c->state = ST_CH_CRLF;
            continue;
        }
        if (c->state == ST_CH_CRLF) {
            if (c->rlen - pos < 2) break;
            if (c->rbuf[pos] != '\r' || c->rbuf[pos + 1] != '\n') return -1;
            pos += 2;
            c->state = ST_CH_SIZE;
            continue;
        }
        if (c->state == ST_CH_TRAILER) {
            if (c->rlen - pos < 2) break;
            if (c->rbuf[pos] == '\r' && c->rbuf[pos + 1] == '\n') {
                pos += 2;
                done = 1;
                break;
            }
            char *e = memmem(c->rbuf + pos, c->rlen - pos, "\r\n\r\n", 4);
            if (!e) break;
            pos = (size_t)(e - c->rbuf) + 4;
            done = 1;
            break;
        }
        break;
    }
    if (pos) {
        memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= pos;
    }
    if (done && c->rlen != 0) return -1; /* nothing may follow an answer: we never pipeline */
    return done;
}

static void on_error(conn_t *c, uint64_t t) {
    n_errors++;
    if (n_errors == 1) fprintf(stderr, "loadgen: connection error (errno %d: %s)\n", errno, strerror(errno));
    drop_conn(c);
    if (n_errors > MAX_ERRORS) return;
    if (t < t_end && start_conn(c) < 0) {
        n_errors++;
        drop_conn(c);
    }
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p) {
    if (!n) return 0.0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    if (i >= n) i = n - 1;
    return (double)v[i] / 1000.0; /* microseconds */
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) die("read");
    fclose(f);
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen -p PORT -f REQUEST_FILE [-H HOST] [-c CONNS] [-w WARMUP_S] [-d DURATION_S]\n"
            "               [-m SUBSTRING]... [-b MIN_LEN] [-B MAX_LEN] [-n EVENTS]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int opt;
    const char *file = NULL;
    while ((opt = getopt(argc, argv, "H:p:c:w:d:f:m:b:B:n:")) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'c': nconns = atoi(optarg); break;
        case 'w': warmup_s = atof(optarg); break;
        case 'd': duration_s = atof(optarg); break;
        case 'f': file = optarg; break;
        case 'm':
            if (nchecks == MAX_CHECKS) usage();
            checks[nchecks++] = optarg;
            break;
        case 'b': min_len = atol(optarg); break;
        case 'B': max_len = atol(optarg); break;
        case 'n': want_events = atol(optarg); break;
        default: usage();
        }
    }
    if (!port || !file || nconns < 1 || duration_s <= 0) usage();
    req = read_file(file, &req_len);

    ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    conn_t *conns = calloc((size_t)nconns, sizeof *conns);
    uint64_t t0 = now_ns();
    t_measure = t0 + (uint64_t)(warmup_s * 1e9);
    t_end = t_measure + (uint64_t)(duration_s * 1e9);
    int live = 0;
    for (int i = 0; i < nconns; i++) {
        conns[i].fd = -1;
        if (start_conn(&conns[i]) < 0) {
            n_errors++;
            drop_conn(&conns[i]);
        } else {
            live++;
        }
    }
    if (!live) {
        fprintf(stderr, "loadgen: cannot connect to %s:%d\n", host, port);
        printf("{\"errors\": %ld, \"completed\": 0, \"fatal\": \"cannot connect\"}\n", n_errors);
        return 1;
    }
    int started = 0;
    struct epoll_event evs[256];
    for (;;) {
        uint64_t t = now_ns();
        if (!started && t >= t_measure) {
            started = 1;
            printf("START\n");
            fflush(stdout);
        }
        if (t >= t_end || n_errors > MAX_ERRORS) break;
        uint64_t next = started ? t_end : t_measure;
        int timeout_ms = (int)((next - t) / 1000000ull) + 1;
        if (timeout_ms > 100) timeout_ms = 100;
        int n = epoll_wait(ep, evs, 256, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->fd < 0) continue;
            if (c->state == ST_WRITE && (evs[i].events & EPOLLOUT)) {
                ssize_t w = write(c->fd, req + c->wpos, req_len - c->wpos);
                if (w < 0 && errno != EAGAIN) {
                    on_error(c, now_ns());
                    continue;
                }
                if (w > 0) c->wpos += (size_t)w;
                if (c->wpos == req_len) {
                    c->state = ST_HEAD;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
                continue;
            }
            if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            grow(&c->rbuf, &c->rcap, c->rlen + 65536);
            ssize_t r = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r <= 0) {
                if (r == 0) errno = ECONNRESET;
                on_error(c, now_ns());
                continue;
            }
            if (c->state == ST_WRITE) { /* an answer before the request was written: protocol error */
                errno = EPROTO;
                on_error(c, now_ns());
                continue;
            }
            c->rlen += (size_t)r;
            int res = parse(c);
            if (res < 0) {
                errno = EPROTO;
                on_error(c, now_ns());
                continue;
            }
            if (res == 1) {
                uint64_t td = now_ns();
                record(c, td);
                if (td >= t_end) continue;
                if (c->close_after) {
                    drop_conn(c);
                    if (start_conn(c) < 0) on_error(c, td);
                } else if (send_request(c) < 0) {
                    on_error(c, td);
                }
            }
        }
    }
    double window = (double)(now_ns() - t_measure) / 1e9;
    if (window > duration_s) window = duration_s;
    printf("END\n");
    fflush(stdout);
    for (int i = 0; i < nconns; i++) drop_conn(&conns[i]);
    qsort(lat, nrec, sizeof *lat, cmp_u64);
    qsort(ttfb, nrec, sizeof *ttfb, cmp_u64);
    printf("{\"completed\": %zu, \"window_s\": %.4f, \"rps\": %.1f, \"errors\": %ld, \"non2xx\": %ld, "
           "\"bad_body\": %ld, \"answers_total\": %ld, "
           "\"lat_p50_us\": %.1f, \"lat_p90_us\": %.1f, \"lat_p99_us\": %.1f, \"lat_max_us\": %.1f, "
           "\"ttfb_p50_us\": %.1f, \"ttfb_p99_us\": %.1f}\n",
           nrec, window, (double)nrec / window, n_errors, n_non2xx, n_bad, n_done_total, pct(lat, nrec, 50),
           pct(lat, nrec, 90), pct(lat, nrec, 99), nrec ? (double)lat[nrec - 1] / 1000.0 : 0.0,
           pct(ttfb, nrec, 50), pct(ttfb, nrec, 99));
    fflush(stdout);
    return 0;
}
