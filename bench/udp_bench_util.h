// Shared by udp_recv_bench and udp_send_bench: the median run, arguments and
// output.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_util.h"

namespace peerlink::bench {

// The median of `runs` results of `run()` by their cpu_ns_per_datagram.
template <typename Run>
auto MedianByCpu(int runs, Run run) {
  std::vector<decltype(run())> rs;
  for (int i = 0; i < runs; ++i)
    rs.push_back(run());
  std::sort(rs.begin(), rs.end(),
            [](const auto& a, const auto& b) { return a.cpu_ns_per_datagram < b.cpu_ns_per_datagram; });
  return rs[rs.size() / 2];
}

// Sets r.cpu_ns_per_datagram and r.calls_per_datagram from r.calls over `n` datagrams.
template <typename Result>
void SetPerDatagram(Result& r, double cpu_seconds, uint64_t n) {
  if (n == 0) return;
  r.cpu_ns_per_datagram = cpu_seconds * 1e9 / static_cast<double>(n);
  r.calls_per_datagram = static_cast<double>(r.calls) / static_cast<double>(n);
}

// `[--quick] [--out FILE]`: --quick runs once with `quick_datagrams`, else three times.
struct UdpBenchArgs {
  std::optional<std::string> out_file;
  uint64_t datagrams = 0;
  int runs = 3;
};
inline UdpBenchArgs ParseUdpBenchArgs(int argc, char** argv, uint64_t quick_datagrams, uint64_t full_datagrams) {
  Args args(argc, argv, "[--quick] [--out FILE]");
  UdpBenchArgs a;
  a.datagrams = full_datagrams;
  if (args.Flag("--quick")) {
    a.datagrams = quick_datagrams;
    a.runs = 1;
  }
  a.out_file = args.Value("--out");
  args.Finish();
  return a;
}

// The JSON document: the common header, `results` and `ratios` (each a list of objects, one
// per line, already comma-separated); printed, and written to `out_file` if one was given.
inline void EmitUdpJson(uint64_t datagrams,
                        int runs,
                        const std::string& results,
                        const std::string& ratios,
                        const std::optional<std::string>& out_file) {
  const std::string json = "{\n  \"datagram_bytes\": 1200, \"datagrams_per_run\": " + std::to_string(datagrams) +
                           ", \"runs\": " + std::to_string(runs) +
                           ",\n  \"median_of_runs_by\": \"cpu_ns_per_datagram\",\n  \"results\": [\n" + results +
                           "\n  ],\n  \"ratios\": [\n" + ratios + "\n  ]\n}\n";
  EmitJson(json, out_file);
}

}  // namespace peerlink::bench
