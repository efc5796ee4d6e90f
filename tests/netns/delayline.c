/* pl_delayline: a userspace delay line for the netns tests (this kernel has no tc netem).
 *
 *   pl_delayline --queue N --delay-ms D [--jitter-ms J] [--limit P] [--stats-file F] [--seed S]
 *                [--gso 0|1]
 *
 * Takes packets from iptables `-j NFQUEUE --queue-num N` (delay.sh installs the rules in a
 * router namespace's mangle FORWARD chain), holds each for D ms plus a uniform random 0..J ms,
 * and re-injects it with NF_ACCEPT. Packets leave in arrival order: a packet is never released
 * before the one queued ahead of it (so jitter bunches packets up instead of reordering them).
 * Only packet ids are held (NFQNL_COPY_META: no payload is copied to userspace); the queue is a
 * ring of at most P packets (default 4096), and a packet arriving at a full ring is dropped at
 * once (NF_DROP) and counted. Kernel-side overruns (ENOBUFS on the netlink socket) are counted
 * too. Due packets leave with one batch verdict (every held id up to the last due one), not one
 * netlink message each: at 100-200k packets/s a verdict per packet made this program the path's
 * bottleneck on a 2-core machine. --gso 1 asks the kernel for GSO packets whole
 * (NFQA_CFG_F_GSO), as the kernel forwards them without a queue, instead of segmenting each
 * into MTU-sized packets first; then one held entry may be many datagrams, and a loss rule
 * after the queue drops them together (so lossy paths should leave it off). Prints "ready" on
 * stderr once bound; on SIGTERM/SIGINT releases what it holds, writes the
 * final counters and exits 0. Counters are also rewritten to --stats-file every 500 ms as JSON.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct held {
  uint32_t id;
  int64_t due_ns;
};

static struct {
  struct held* ring;
  size_t cap, head, len;
  int64_t delay_ns, jitter_ns, last_due_ns;
  uint64_t rng;
  uint64_t received, released, dropped_full, kernel_overruns, verdict_errors;
  size_t max_depth;
  struct nfq_q_handle* qh;
  const char* stats_file;
} g;

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* splitmix64: jitter only needs to be reproducible per --seed, not secure. */
static uint64_t next_rand(void) {
  uint64_t z = (g.rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static void verdict(uint32_t id, uint32_t v) {
  if (nfq_set_verdict(g.qh, id, v, 0, NULL) < 0) g.verdict_errors++;
}

static void write_stats(void) {
  if (g.stats_file == NULL) return;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", g.stats_file);
  FILE* f = fopen(tmp, "w");
  if (f == NULL) return;
  fprintf(f,
          "{\"received\": %llu, \"released\": %llu, \"dropped_full\": %llu, \"kernel_overruns\": %llu, "
          "\"verdict_errors\": %llu, \"held\": %zu, \"max_depth\": %zu, \"delay_ms\": %.3f, \"jitter_ms\": %.3f}\n",
          (unsigned long long)g.received, (unsigned long long)g.released, (unsigned long long)g.dropped_full,
          (unsigned long long)g.kernel_overruns, (unsigned long long)g.verdict_errors, g.len, g.max_depth,
          g.delay_ns / 1e6, g.jitter_ns / 1e6);
  fclose(f);
  rename(tmp, g.stats_file);
}

static int on_packet(struct nfq_q_handle* qh, struct nfgenmsg* msg, struct nfq_data* nfa, void* data) {
  (void)qh;
  (void)msg;
  (void)data;
  struct nfqnl_msg_packet_hdr* ph = nfq_get_msg_packet_hdr(nfa);
  if (ph == NULL) return 0;
  uint32_t id = ntohl(ph->packet_id);
  g.received++;
  if (g.len == g.cap) {
    g.dropped_full++;
    verdict(id, NF_DROP);
    return 0;
  }
  int64_t due = mono_ns() + g.delay_ns;
  if (g.jitter_ns > 0) due += (int64_t)(next_rand() % (uint64_t)(g.jitter_ns + 1));
  if (due < g.last_due_ns) due = g.last_due_ns; /* keep arrival order */
  g.last_due_ns = due;
  g.ring[(g.head + g.len) % g.cap] = (struct held){id, due};
  g.len++;
  if (g.len > g.max_depth) g.max_depth = g.len;
  return 0;
}

/* Held ids are in arrival order, which is the kernel's id order, and every earlier id has had
 * its verdict (released before, or dropped at once), so one batch verdict for the last due id
 * releases exactly the due prefix. */
static void release_due(int64_t now, int all) {
  size_t n = 0;
  uint32_t last = 0;
  while (g.len > 0 && (all || g.ring[g.head].due_ns <= now)) {
    last = g.ring[g.head].id;
    g.head = (g.head + 1) % g.cap;
    g.len--;
    n++;
  }
  if (n == 0) return;
  if (nfq_set_verdict_batch(g.qh, last, NF_ACCEPT) < 0) g.verdict_errors++;
  g.released += n;
}

static void usage(void) {
  fprintf(stderr,
          "usage: pl_delayline --queue N --delay-ms D [--jitter-ms J] [--limit PACKETS] [--stats-file F] "
          "[--seed S] [--gso 0|1]\n");
  exit(2);
}

int main(int argc, char** argv) {
  long queue = -1, limit = 4096, gso = 0;
  double delay_ms = -1, jitter_ms = 0;
  g.rng = 1;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (i + 1 >= argc) usage();
    const char* v = argv[++i];
    if (strcmp(a, "--queue") == 0)
      queue = strtol(v, NULL, 10);
    else if (strcmp(a, "--delay-ms") == 0)
      delay_ms = strtod(v, NULL);
    else if (strcmp(a, "--jitter-ms") == 0)
      jitter_ms = strtod(v, NULL);
    else if (strcmp(a, "--limit") == 0)
      limit = strtol(v, NULL, 10);
    else if (strcmp(a, "--stats-file") == 0)
      g.stats_file = v;
    else if (strcmp(a, "--gso") == 0)
      gso = strtol(v, NULL, 10);
    else if (strcmp(a, "--seed") == 0)
      g.rng = strtoull(v, NULL, 10);
    else
      usage();
  }
  if (queue < 0 || queue > 65535 || delay_ms < 0 || delay_ms > 60000 || jitter_ms < 0 || jitter_ms > 60000 ||
      limit < 1 || limit > 1000000 || (gso != 0 && gso != 1))
    usage();
  g.delay_ns = (int64_t)(delay_ms * 1e6);
  g.jitter_ns = (int64_t)(jitter_ms * 1e6);
  g.cap = (size_t)limit;
  g.ring = calloc(g.cap, sizeof *g.ring);
  if (g.ring == NULL) return 1;

  struct nfq_handle* h = nfq_open();
  if (h == NULL) {
    perror("pl_delayline: nfq_open");
    return 1;
  }
  nfq_unbind_pf(h, AF_INET); /* harmless on current kernels; required by old ones */
  if (nfq_bind_pf(h, AF_INET) < 0) {
    perror("pl_delayline: nfq_bind_pf");
    return 1;
  }
  g.qh = nfq_create_queue(h, (uint16_t)queue, &on_packet, NULL);
  if (g.qh == NULL) {
    perror("pl_delayline: nfq_create_queue (queue number in use?)");
    return 1;
  }
  if (nfq_set_mode(g.qh, NFQNL_COPY_META, 0) < 0) {
    perror("pl_delayline: nfq_set_mode");
    return 1;
  }
  if (gso && nfq_set_queue_flags(g.qh, NFQA_CFG_F_GSO, NFQA_CFG_F_GSO) < 0) {
    perror("pl_delayline: nfq_set_queue_flags(NFQA_CFG_F_GSO)");
    return 1;
  }
  /* The kernel holds the packets; let it queue a little more than we do so our own bound is
   * the one that decides (and counts) drops. */
  nfq_set_queue_maxlen(g.qh, (uint32_t)(limit + 1024));
  int fd = nfq_fd(h);
  int rcvbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  fprintf(stderr, "pl_delayline: ready queue=%ld delay=%.3fms jitter=%.3fms limit=%ld gso=%ld\n", queue, delay_ms,
          jitter_ms, limit, gso);
  write_stats();
  static char buf[65536] __attribute__((aligned));
  int64_t next_stats = mono_ns() + 500000000LL;
  while (!g_stop) {
    int64_t now = mono_ns();
    release_due(now, 0);
    if (now >= next_stats) {
      write_stats();
      next_stats = now + 500000000LL;
    }
    int64_t wait = next_stats - now;
    if (g.len > 0 && g.ring[g.head].due_ns - now < wait) wait = g.ring[g.head].due_ns - now;
    if (wait < 0) wait = 0;
    struct timespec ts = {(time_t)(wait / 1000000000LL), (long)(wait % 1000000000LL)};
    struct pollfd pfd = {fd, POLLIN, 0};
    int r = ppoll(&pfd, 1, &ts, NULL);
    if (r < 0) {
      if (errno == EINTR) continue;
      perror("pl_delayline: ppoll");
      break;
    }
    if (r == 0) continue;
    for (int i = 0; i < 256; i++) {
      ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == ENOBUFS) {
          g.kernel_overruns++;
          continue;
        }
        break; /* EAGAIN */
      }
      nfq_handle_packet(h, buf, (int)n);
    }
  }
  release_due(0, 1);
  write_stats();
  fprintf(stderr, "pl_delayline: received=%llu released=%llu dropped_full=%llu kernel_overruns=%llu max_depth=%zu\n",
          (unsigned long long)g.received, (unsigned long long)g.released, (unsigned long long)g.dropped_full,
          (unsigned long long)g.kernel_overruns, g.max_depth);
  nfq_destroy_queue(g.qh);
  nfq_close(h);
  free(g.ring);
  return 0;
}
