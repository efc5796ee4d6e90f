// ICE connect time on loopback with host candidates, over real UDP sockets:
// two agents (controlling + controlled) in one process, signaling by direct
// calls. Measures, per run, the time from the moment the controlling agent
// has the remote credentials and candidate (its first check leaves in that
// call) until both agents report a selected pair. Prints JSON.
//
//   ice_connect_bench [--runs N] [--out FILE]
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "src/base/rng.h"
#include "src/runtime/clock.h"
#include "src/runtime/ice_agent_runner.h"

using namespace peerlink;

namespace {

struct RunResult {
  bool ok = false;
  double connect_us = 0;  // first check -> both selected
  double total_us = 0;    // runner start -> both selected (includes binding sockets)
};

RunResult OneRun(CryptoRng& rng) {
  boost::asio::io_context io;
  auto make_opts = [](ice::Role role) {
    runtime::IceAgentRunnerOptions o;
    o.agent.role = role;
    o.bind_addresses = {IpAddress::Loopback(IpFamily::kV4)};
    return o;
  };
  const auto t_start = std::chrono::steady_clock::now();
  runtime::IceAgentRunner a(io, make_opts(ice::Role::kControlling), rng);
  runtime::IceAgentRunner b(io, make_opts(ice::Role::kControlled), rng);
  std::vector<ice::Candidate> a_cands, b_cands;
  bool a_sel = false, b_sel = false;
  std::chrono::steady_clock::time_point t_first_check{}, t_done{};
  a.set_on_event([&](const ice::AgentEvent& e) {
    if (auto* c = std::get_if<ice::LocalCandidateEvent>(&e)) a_cands.push_back(c->candidate);
    if (std::holds_alternative<ice::SelectedPairEvent>(e)) a_sel = true;
  });
  b.set_on_event([&](const ice::AgentEvent& e) {
    if (auto* c = std::get_if<ice::LocalCandidateEvent>(&e)) b_cands.push_back(c->candidate);
    if (std::holds_alternative<ice::SelectedPairEvent>(e)) b_sel = true;
  });
  std::string err;
  if (!a.Start(&err) || !b.Start(&err)) {
    std::fprintf(stderr, "ice_connect_bench: %s\n", err.c_str());
    return {};
  }
  // Signaling: the controlled side learns everything first (as an answerer
  // would), then the controlling side; its first check leaves in that call.
  const auto ca = a.agent().local_credentials();
  const auto cb = b.agent().local_credentials();
  b.Run([&](ice::Agent& ag, Instant now) {
    ag.SetRemoteCredentials(now, ca);
    for (auto& c : a_cands)
      ag.AddRemoteCandidate(now, c);
    ag.SetRemoteEndOfCandidates(now);
  });
  t_first_check = std::chrono::steady_clock::now();
  a.Run([&](ice::Agent& ag, Instant now) {
    ag.SetRemoteCredentials(now, cb);
    for (auto& c : b_cands)
      ag.AddRemoteCandidate(now, c);
    ag.SetRemoteEndOfCandidates(now);
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!(a_sel && b_sel) && std::chrono::steady_clock::now() < deadline)
    io.run_one_for(std::chrono::milliseconds(50));
  t_done = std::chrono::steady_clock::now();
  RunResult r;
  r.ok = a_sel && b_sel;
  r.connect_us = std::chrono::duration<double, std::micro>(t_done - t_first_check).count();
  r.total_us = std::chrono::duration<double, std::micro>(t_done - t_start).count();
  a.Close();
  b.Close();
  io.poll();
  return r;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t idx = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[idx];
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, "[--runs N] [--out FILE]");
  int runs = 100;
  if (const std::optional<std::string> n = args.Value("--runs")) {
    runs = std::atoi(n->c_str());
    if (runs < 1 || runs > 100000) args.Fail("--runs takes a count from 1 to 100000, not '" + *n + "'");
  }
  const std::optional<std::string> out = args.Value("--out");
  args.Finish();
  CryptoRng rng;
  // One warm-up run (not counted): the first connect in a process also pays
  // for OpenSSL's lazy algorithm fetches.
  (void)OneRun(rng);
  std::vector<double> connect, total;
  int failures = 0;
  for (int i = 0; i < runs; ++i) {
    RunResult r = OneRun(rng);
    if (!r.ok) {
      ++failures;
      continue;
    }
    connect.push_back(r.connect_us);
    total.push_back(r.total_us);
  }
  if (connect.empty()) {
    std::fprintf(stderr, "ice_connect_bench: every run failed\n");
    return 1;
  }
  char json[1024];
  std::snprintf(json, sizeof(json),
                "{\"name\":\"ice_connect_loopback_host\",\"stack\":\"peerlink\",\"runs\":%d,\"failures\":%d,"
                "\"first_check_to_selected_us\":{\"median\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
                "\"start_to_selected_us\":{\"median\":%.1f,\"p99\":%.1f,\"max\":%.1f}}\n",
                runs, failures, Percentile(connect, 0.5), Percentile(connect, 0.99),
                *std::max_element(connect.begin(), connect.end()), Percentile(total, 0.5), Percentile(total, 0.99),
                *std::max_element(total.begin(), total.end()));
  bench::EmitJson(json, out);
  return failures == 0 ? 0 : 1;
}
