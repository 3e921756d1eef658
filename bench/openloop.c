/*
 * An open-loop HTTP/1.1 load generator in one thread (the method of wrk2): request n is due at
 * start + n / rate whatever the server does, and its latency runs from that due time to the whole
 * answer read, so a stalled server is charged for every request that had to wait.
 *
 * Why C: the Python generator (loadgen.py) costs about as much CPU per request as the server it
 * measures, and on a two-core machine that runs both it fell behind (docs/benchmarks.md). Here a
 * request took about a third of that (0.09-0.19 cores at 1,000-1,800 a second). loadgen.run_native
 * builds and drives it; nothing else uses it.
 *
 *   openloop HOST PORT RATE CONNECTIONS REQUESTS_FILE OUTPUT_FILE
 *
 * REQUESTS_FILE: a u32 count, then per request a u32 length and the raw request (the machine's byte
 * order). OUTPUT_FILE: one line per request, "n status latency_ns lag_ns id", then
 * "# start_ns last_sent_ns connections cpu_ns" (CLOCK_MONOTONIC, as Python's time.monotonic()).
 * lag: how late its first byte left. status 0: no answer (the connection failed or nothing came
 * in GIVE_UP after the last due time), charged as GIVE_UP of latency, never flattering; id -1:
 * none in a 2xx body.
 *
 * A request that finds every connection busy opens one more, as another client would, instead of
 * waiting for one. Answers must carry Content-Length (this app's all do); a connection the server
 * closes is not used again, and a request it dropped before answering a byte, on a connection
 * that had answered before (a keep-alive timeout racing the send), is sent once more on a new one,
 * still charged from its own due time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
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

#define GIVE_UP_NS (30LL * 1000000000LL)

typedef struct {
    int fd;
    int connecting;
    int writable; /* watched for EPOLLOUT: only while a request is half sent */
    int reused;   /* has answered before: a drop before the first byte may be a keep-alive race */
    int64_t n;    /* the request in flight, or -1 */
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
static char *done, *retried;
static int64_t *latencies, *lags, *ids;
static int64_t start, answered, last_sent;
static double rate;

static int64_t due(int64_t n) { return start + (int64_t)((double)n * 1e9 / rate); }

static void record(int64_t n, int status, int64_t latency, int64_t id) {
    statuses[n] = status;
    latencies[n] = latency;
    ids[n] = id;
    done[n] = 1;
    answered++;
}

static void fail(int64_t n) { record(n, 0, GIVE_UP_NS, -1); }

static void watch(Conn *c, int writable, int op) {
    if (op == EPOLL_CTL_MOD && writable == c->writable) return; /* a syscall a request saved */
    struct epoll_event e = {.events = EPOLLIN | (writable ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(epoll_fd, op, c->fd, &e) < 0) die("epoll_ctl");
    c->writable = writable;
}

static void drop(Conn *c) {
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->n = -1;
}

/* A new connection, or NULL when the machine refuses one (out of descriptors, say). */
static Conn *open_conn(int blocking) {
    int fd = socket(AF_INET, SOCK_STREAM | (blocking ? 0 : SOCK_NONBLOCK), 0);
    if (fd < 0) return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int connecting = 0;
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        if (blocking || errno != EINPROGRESS) {
            close(fd);
            return NULL;
        }
        connecting = 1;
    }
    if (blocking) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    Conn *c = calloc(1, sizeof *c);
    c->fd = fd;
    c->connecting = connecting;
    c->n = -1;
    c->cap = 4096;
    c->buf = malloc(c->cap);
    if (conn_count == conn_cap) {
        conn_cap = conn_cap ? conn_cap * 2 : 64;
        conns = realloc(conns, conn_cap * sizeof *conns);
        idle = realloc(idle, conn_cap * sizeof *idle);
    }
    conns[conn_count++] = c;
    watch(c, connecting, EPOLL_CTL_ADD);
    return c;
}

static void send_more(Conn *c);

/* Request n on a free connection, or on a new one when every one is busy. */
static void begin(int64_t n) {
    Conn *c = NULL;
    while (idle_count && !c) {
        c = idle[--idle_count];
        if (c->fd < 0) c = NULL; /* closed since */
    }
    if (!c) c = open_conn(0);
    if (!c) {
        fail(n);
        return;
    }
    c->n = n;
    c->sent = 0;
    c->used = 0;
    if (!c->connecting) send_more(c);
}

/* The connection failed with its request unanswered: send it once more, or count it failed. */
static void lost(Conn *c) {
    int64_t n = c->n;
    int again = c->reused && c->used == 0 && !retried[n];
    drop(c);
    if (again) {
        retried[n] = 1;
        begin(n);
    } else {
        fail(n);
    }
}

static void send_more(Conn *c) {
    while (c->sent < lengths[c->n]) {
        ssize_t w = send(c->fd, requests[c->n] + c->sent, lengths[c->n] - c->sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN) {
                watch(c, 1, EPOLL_CTL_MOD);
                return;
            }
            lost(c);
            return;
        }
        if (c->sent == 0) { /* when it really left: after a new connection's handshake, too */
            int64_t now = now_ns();
            lags[c->n] = now - due(c->n);
            if (now > last_sent) last_sent = now;
        }
        c->sent += (uint32_t)w;
    }
    watch(c, 0, EPOLL_CTL_MOD);
}

static const char *header(const char *head, const char *end, const char *name) {
    size_t size = strlen(name);
    for (const char *line = memchr(head, '\n', (size_t)(end - head)); line && line < end;
         line = memchr(line + 1, '\n', (size_t)(end - line - 1))) {
        if (strncasecmp(line + 1, name, size) == 0) return line + 1 + size;
    }
    return NULL;
}

/* A complete answer in the buffer is recorded (1); 0 while it is not all there; -1 when it cannot
 * be read (no Content-Length, or a broken one): the request fails and the connection goes. */
static int parse(Conn *c) {
    char *head_end = memmem(c->buf, c->used, "\r\n\r\n", 4);
    if (!head_end) return 0;
    size_t head = (size_t)(head_end - c->buf) + 4;
    const char *found = header(c->buf, head_end, "content-length:");
    if (!found || header(c->buf, head_end, "transfer-encoding:")) return -1;
    char *after;
    long long length = strtoll(found, &after, 10);
    if (after == found || length < 0 || length > (1LL << 30)) return -1;
    if (c->used < head + (size_t)length) return 0;
    int status = atoi(c->buf + 9); /* "HTTP/1.1 201 ..." */
    int64_t id = -1;
    if (status >= 200 && status < 300) {
        char *body = c->buf + head, *end = body + length;
        char *key = memmem(body, (size_t)length, "\"id\":", 5);
        if (key) {
            key += 5;
            while (key < end && *key == ' ') key++;
            if (key < end && *key >= '0' && *key <= '9') id = strtoll(key, NULL, 10);
        }
    }
    record(c->n, status, now_ns() - due(c->n), id);
    const char *connection = header(c->buf, head_end, "connection:");
    while (connection && *connection == ' ') connection++;
    int closing = connection && strncasecmp(connection, "close", 5) == 0;
    /* Answered before all of it was sent (a 413, say): the rest would be read as the next request. */
    int half_sent = c->sent < lengths[c->n];
    c->n = -1;
    c->used = 0;
    c->reused = 1;
    if (closing || half_sent) {
        drop(c);
    } else {
        idle[idle_count++] = c;
    }
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
        /* closed by the server: what it answered in full counts; then the connection goes */
        if (c->n >= 0 && c->used && parse(c) == 1) {
            if (c->fd >= 0) drop(c);
            return;
        }
        if (c->n >= 0) {
            lost(c);
        } else {
            drop(c);
        }
        return;
    }
    if (c->n < 0) {
        c->used = 0; /* nothing was asked on it: nothing to read */
        return;
    }
    if (parse(c) < 0) {
        fail(c->n);
        drop(c);
    }
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
    if (rate <= 0 || initial < 1) {
        fprintf(stderr, "openloop: RATE and CONNECTIONS must be positive\n");
        return 2;
    }

    FILE *in = fopen(argv[5], "rb");
    if (!in) die(argv[5]);
    uint32_t count;
    if (fread(&count, 4, 1, in) != 1 || count == 0) die("requests file");
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
    done = calloc(count, 1);
    retried = calloc(count, 1);

    /* A stall opens a connection per request due meanwhile: as many descriptors as allowed. */
    struct rlimit files;
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        setrlimit(RLIMIT_NOFILE, &files);
    }
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1UL); /* wake on time, not up to 50 µs late */
    epoll_fd = epoll_create1(0);
    if (epoll_fd < 0) die("epoll_create1");
    for (int i = 0; i < initial; i++) {
        Conn *c = open_conn(1); /* first: it may grow the idle array */
        if (!c) die("connect");
        idle[idle_count++] = c;
    }

    struct epoll_event events[256];
    int64_t next = 0, cpu_start = cpu_ns();
    start = now_ns() + 50000000LL;
    while (answered < count) {
        int64_t now = now_ns();
        while (next < count && due(next) <= now) {
            lags[next] = now - due(next); /* until its first byte leaves */
            begin(next++);
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
            if (c->connecting) {
                if (!(events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) continue;
                int error = 0;
                socklen_t size = sizeof error;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &size);
                c->connecting = 0;
                if (error) {
                    if (c->n >= 0) {
                        lost(c);
                    } else {
                        drop(c);
                    }
                } else if (c->n >= 0) {
                    send_more(c);
                }
                continue;
            }
            if ((events[i].events & EPOLLOUT) && c->n >= 0 && c->sent < lengths[c->n]) send_more(c);
            if (c->fd >= 0 && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) readable(c);
        }
    }
    int64_t cpu = cpu_ns() - cpu_start;
    for (uint32_t n = 0; n < count; n++) {
        if (!done[n]) fail(n); /* nothing came in GIVE_UP_NS after the last due time */
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
