#include "train/rank_stats.h"

#include <sys/resource.h>

#include <cstdio>

#include "runtime/device.h"
#include "runtime/tensor.h"
#include "runtime/text.h"

namespace neft::train {

namespace {
constexpr int kFields = 16;

int64_t to_i64(size_t bytes) { return int64_t(bytes); }

}  // namespace

void measure_memory(RankStats& s, model::LlamaModel& model, const optim::AdamW& optimizer) {
  s.peak_allocated_bytes = to_i64(memory_stats(model.options().device).peak);
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) s.peak_rss_bytes = int64_t(usage.ru_maxrss) * 1024;
  size_t weights = 0, gradients = 0;
  for (const Parameter* p : model.parameters()) {
    weights += p->value.nbytes();
    if (p->grad.defined()) gradients += p->grad.nbytes();
  }
  s.weight_bytes = to_i64(weights);
  s.gradient_bytes = to_i64(gradients);
  // state_bytes() counts the gradients of the parameters it updates, which are all of them.
  s.optimizer_bytes = to_i64(optimizer.state_bytes()) - s.gradient_bytes;
  s.activation_bytes = to_i64(model.activation_bytes());
}

std::vector<RankStats> gather_rank_stats(const ParallelJob& job, const RankStats& mine) {
  const int64_t mine_fields[kFields] = {mine.rank,
                                        mine.tp,
                                        mine.pp,
                                        mine.dp,
                                        mine.trained_parameters,
                                        mine.state_bytes,
                                        mine.dp_bytes_per_step,
                                        mine.tp_bytes_per_step,
                                        mine.replicated_parameters,
                                        mine.peak_allocated_bytes,
                                        mine.peak_rss_bytes,
                                        mine.weight_bytes,
                                        mine.gradient_bytes,
                                        mine.optimizer_bytes,
                                        mine.activation_bytes,
                                        mine.pp_bytes_per_step};
  Tensor in = Tensor::empty({kFields}, DType::I64);
  for (int i = 0; i < kFields; ++i) in.data<int64_t>()[i] = mine_fields[i];
  if (!job.world()) return {mine};
  Tensor all = Tensor::empty({int64_t(job.world_size()) * kFields}, DType::I64);
  job.world()->all_gather(in, all);
  std::vector<RankStats> out;
  for (int r = 0; r < job.world_size(); ++r) {
    const int64_t* f = all.data<int64_t>() + r * kFields;
    out.push_back({f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12],
                   f[13], f[14], f[15]});
  }
  return out;
}

nlohmann::json to_json(const std::vector<RankStats>& stats) {
  nlohmann::json ranks = nlohmann::json::array();
  for (const RankStats& s : stats)
    ranks.push_back({{"rank", s.rank},
                     {"tp", s.tp},
                     {"pp", s.pp},
                     {"dp", s.dp},
                     {"trained_parameters", s.trained_parameters},
                     {"replicated_parameters", s.replicated_parameters},
                     {"state_bytes", s.state_bytes},
                     {"dp_bytes_per_step", s.dp_bytes_per_step},
                     {"tp_bytes_per_step", s.tp_bytes_per_step},
                     {"pp_bytes_per_step", s.pp_bytes_per_step},
                     {"peak_allocated_bytes", s.peak_allocated_bytes},
                     {"peak_rss_bytes", s.peak_rss_bytes},
                     {"memory",
                      {{"weights", s.weight_bytes},
                       {"gradients", s.gradient_bytes},
                       {"optimizer", s.optimizer_bytes},
                       {"activations", s.activation_bytes}}}});
  return ranks;
}

std::string describe(const RankStats& s) {
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "rank %lld (tp %lld, pp %lld, dp %lld): trains %lld parameters, %s of training "
                "state; sends %s (dp) + %s (tp) per step; peak %s allocated, %s resident",
                (long long)s.rank, (long long)s.tp, (long long)s.pp, (long long)s.dp,
                (long long)s.trained_parameters, bytes_text(double(s.state_bytes)).c_str(),
                bytes_text(double(s.dp_bytes_per_step)).c_str(),
                bytes_text(double(s.tp_bytes_per_step)).c_str(),
                bytes_text(double(s.peak_allocated_bytes)).c_str(),
                bytes_text(double(s.peak_rss_bytes)).c_str());
  return buf;
}

}  // namespace neft::train
