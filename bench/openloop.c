/*
 * An open-loop HTTP/1.1 load generator in one thread (the method of wrk2): request n is due at
 * start + n / rate whatever the server does, and its latency runs from that due time to the whole
 * answer read, so a stalled server is charged for every request that had to wait.
 *
 * Why C: the Python generator (loadgen.py) costs about as much CPU per request as the server it
 * measures, and on a two-core machine that runs both it fell behind (docs/benchmarks.md). Here a
 * request costs a few microseconds. loadgen.run_native builds and drives it; nothing else uses it.
 *
 *   openloop HOST PORT RATE CONNECTIONS REQUESTS_FILE OUTPUT_FILE
 *
 * REQUESTS_FILE: a little-endian u32 count, then per request a u32 length and the raw request.
 * OUTPUT_FILE: one line per request, "n status latency_ns lag_ns id" (status 0: no answer; id -1:
 * none in the body), then "# start_ns last_sent_ns connections cpu_ns" (CLOCK_MONOTONIC, as
 * Python's time.monotonic()). A request that finds every connection busy opens one more, as
 * another client would, instead of waiting for one.
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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GIVE_UP_NS (30LL * 1000000000LL) /* after the last due time, unanswered requests fail */

typedef struct {
    int fd;
    int connecting;
    int writable; /* watched for EPOLLOUT: only while a request is half sent */
    int64_t n; /* the request in flight, or -1 */
    uint32_t sent;
    char *buf;
    size_t cap, used;
} Conn;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int64_t cpu_ns(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return ((int64_t)u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000000LL +
           ((int64_t)u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1000LL;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static struct sockaddr_in address;
static int epoll_fd;
static Conn **conns;
static size_t conn_count, conn_cap;
static Conn **idle;
static size_t idle_count;
static char **requests;
static uint32_t *lengths;
static int *statuses;
static int64_t *latencies, *lags, *ids;
static int64_t start, answered;
static double rate;

static int64_t due(int64_t n) { return start + (int64_t)((double)n * 1e9 / rate); }

static void watch(Conn *c, int writable, int op) {
    if (op == EPOLL_CTL_MOD && writable == c->writable) return; /* a syscall a request saved */
    struct epoll_event e = {.events = EPOLLIN | (writable ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(epoll_fd, op, c->fd, &e) < 0) die("epoll_ctl");
    c->writable = writable;
}

static Conn *open_conn(int blocking) {
    int fd = socket(AF_INET, SOCK_STREAM | (blocking ? 0 : SOCK_NONBLOCK), 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    Conn *c = calloc(1, sizeof *c);
    c->fd = fd;
    c->n = -1;
    c->cap = 4096;
    c->buf = malloc(c->cap);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        if (blocking || errno != EINPROGRESS) die("connect");
        c->connecting = 1;
    }
    if (blocking) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (conn_count == conn_cap) {
        conn_cap = conn_cap ? conn_cap * 2 : 64;
        conns = realloc(conns, conn_cap * sizeof *conns);
        idle = realloc(idle, conn_cap * sizeof *idle);
    }
    conns[conn_count++] = c;
    watch(c, c->connecting, EPOLL_CTL_ADD);
    return c;
}

static void finish(Conn *c, int status, int64_t id) {
    int64_t n = c->n;
    latencies[n] = now_ns() - due(n);
    statuses[n] = status;
    ids[n] = id;
    answered++;
    c->n = -1;
    c->used = 0;
}

static void drop(Conn *c) {
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

static void send_more(Conn *c) {
    while (c->sent < lengths[c->n]) {
        ssize_t w = write(c->fd, requests[c->n] + c->sent, lengths[c->n] - c->sent);
        if (w < 0) {
            if (errno == EAGAIN) {
                watch(c, 1, EPOLL_CTL_MOD);
                return;
            }
            finish(c, 0, -1); /* the server went away: no answer, and the connection is done */
            drop(c);
            return;
        }
        c->sent += (uint32_t)w;
    }
    watch(c, 0, EPOLL_CTL_MOD);
}

/* A complete answer in the buffer: its status, and the enquiry id of a 2xx one. */
static int parse(Conn *c) {
    char *head_end = memmem(c->buf, c->used, "\r\n\r\n", 4);
    if (!head_end) return 0;
    size_t head = (size_t)(head_end - c->buf) + 4;
    long length = 0;
    for (char *line = memchr(c->buf, '\n', head); line && line < head_end; line = memchr(line + 1, '\n', head)) {
        if (strncasecmp(line + 1, "content-length:", 15) == 0) length = strtol(line + 16, NULL, 10);
    }
    if (c->used < head + (size_t)length) return 0;
    int status = atoi(c->buf + 9); /* "HTTP/1.1 201 ..." */
    int64_t id = -1;
    if (status >= 200 && status < 300) {
        char *body = c->buf + head, *end = body + length;
        char *found = memmem(body, (size_t)length, "\"id\":", 5);
        if (found) {
            found += 5;
            while (found < end && *found == ' ') found++;
            if (found < end && *found >= '0' && *found <= '9') id = strtoll(found, NULL, 10);
        }
    }
    finish(c, status, id);
    return 1;
}

static void readable(Conn *c) {
    for (;;) {
        if (c->used == c->cap) {
            c->cap *= 2;
            c->buf = realloc(c->buf, c->cap);
        }
        size_t room = c->cap - c->used;
        ssize_t r = read(c->fd, c->buf + c->used, room);
        if (r > 0) {
            c->used += (size_t)r;
            if ((size_t)r < room) break; /* all there was: no second read to hear EAGAIN */
            continue;
        }
        if (r < 0 && errno == EAGAIN) break;
        /* closed by the server: fail what was in flight, and never use this connection again */
        if (c->n >= 0) finish(c, 0, -1);
        drop(c);
        return;
    }
    if (c->n >= 0 && parse(c)) idle[idle_count++] = c;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: openloop HOST PORT RATE CONNECTIONS REQUESTS_FILE OUTPUT_FILE\n");
        return 2;
    }
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &address.sin_addr) != 1) die("host (an IPv4 address)");
    rate = atof(argv[3]);
    int initial = atoi(argv[4]);

    FILE *in = fopen(argv[5], "rb");
    if (!in) die(argv[5]);
    uint32_t count;
    if (fread(&count, 4, 1, in) != 1) die("requests file");
    requests = malloc(count * sizeof *requests);
    lengths = malloc(count * sizeof *lengths);
    for (uint32_t i = 0; i < count; i++) {
        if (fread(&lengths[i], 4, 1, in) != 1) die("requests file");
        requests[i] = malloc(lengths[i]);
        if (fread(requests[i], 1, lengths[i], in) != lengths[i]) die("requests file");
    }
    fclose(in);
    statuses = calloc(count, sizeof *statuses);
    latencies = calloc(count, sizeof *latencies);
    lags = calloc(count, sizeof *lags);
    ids = calloc(count, sizeof *ids);

    prctl(PR_SET_TIMERSLACK, 1UL); /* wake on time, not up to 50 µs late */
    epoll_fd = epoll_create1(0);
    if (epoll_fd < 0) die("epoll_create1");
    for (int i = 0; i < initial; i++) {
        Conn *c = open_conn(1); /* first: it may grow the idle array */
        idle[idle_count++] = c;
    }

    struct epoll_event events[256];
    int64_t next = 0, last_sent = 0, cpu_start = cpu_ns();
    start = now_ns() + 50000000LL;
    while (answered < count) {
        int64_t now = now_ns();
        while (next < count && due(next) <= now) {
            lags[next] = now - due(next);
            Conn *c = NULL;
            while (idle_count && !c) {
                c = idle[--idle_count];
                if (c->fd < 0) c = NULL; /* closed by the server while idle */
            }
            if (!c) c = open_conn(0);
            c->n = next++;
            c->sent = 0;
            c->used = 0;
            if (!c->connecting) send_more(c);
            last_sent = now;
        }
        if (next == count && now > due(count - 1) + GIVE_UP_NS) break;
        int64_t wait = next < count ? due(next) - now_ns() : 100000000LL;
        if (wait < 0) wait = 0;
        struct timespec timeout = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
        int ready = epoll_pwait2(epoll_fd, events, 256, &timeout, NULL);
        if (ready < 0 && errno != EINTR) die("epoll_pwait2");
        for (int i = 0; i < ready; i++) {
            Conn *c = events[i].data.ptr;
            if (c->fd < 0) continue;
            if (c->connecting && (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                int error = 0;
                socklen_t size = sizeof error;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &size);
                if (error) {
                    errno = error;
                    die("connect");
                }
                c->connecting = 0;
                if (c->n >= 0) send_more(c);
                continue;
            }
            if ((events[i].events & EPOLLOUT) && c->n >= 0 && c->sent < lengths[c->n]) send_more(c);
            if (c->fd >= 0 && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) readable(c);
        }
    }
    int64_t cpu = cpu_ns() - cpu_start, end = now_ns();
    for (int64_t n = 0; n < count; n++) {
        if (n < next && statuses[n] == 0 && latencies[n] == 0) latencies[n] = end - due(n); /* never answered */
    }

    FILE *out = fopen(argv[6], "w");
    if (!out) die(argv[6]);
    for (uint32_t n = 0; n < count; n++) {
        fprintf(out, "%u %d %lld %lld %lld\n", n, statuses[n], (long long)latencies[n], (long long)lags[n],
                (long long)ids[n]);
    }
    fprintf(out, "# %lld %lld %zu %lld\n", (long long)start, (long long)last_sent, conn_count, (long long)cpu);
    fclose(out);
    return 0;
}
