#include "model/train/fisher.h"

#include <cmath>

#include "core/progress.h"
#include "model/train/train_step.h"

namespace lrkv {

namespace {

void add_squares(const std::vector<float>& g, std::vector<float>& acc) {
  for (size_t i = 0; i < g.size(); ++i) acc[i] += g[i] * g[i];
}

// acc (Σ g² of a [rows, d] matrix) -> sqrt(acc / n) in place; returns the mean of the result
// for each group of `rows_per_group` rows.
std::vector<double> finish(std::vector<float>& acc, int64_t n, int64_t d, int64_t rows_per_group) {
  for (float& v : acc) v = std::sqrt(v / static_cast<float>(n));
  const int64_t rows = static_cast<int64_t>(acc.size()) / d;
  std::vector<double> group(rows / rows_per_group, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0.0;
    for (int64_t i = 0; i < d; ++i) s += acc[r * d + i];
    group[r / rows_per_group] += s / static_cast<double>(rows_per_group * d);
  }
  return group;
}

double mean_of(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

}  // namespace

Result<FisherStats> fisher_information(const Model& model, const std::vector<TokenBatch>& batches,
                                       const FisherOptions& options) {
  const LlamaConfig& c = model.config;
  if (batches.empty())
    return make_error(ErrorCode::kInvalidArgument, "fisher: no calibration batches");
  if (options.heads_per_group < 1 || c.n_kv_head % options.heads_per_group != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "fisher: {} KV heads cannot be split in groups of {}", c.n_kv_head,
                      options.heads_per_group);
  }
  LRKV_ASSIGN_OR_RETURN(TrainForward fwd, TrainForward::create(model));
  FisherStats st;
  st.n_layer = c.n_layer;
  st.n_kv_head = c.n_kv_head;
  st.head_dim = c.head_dim;
  st.d_model = c.d_model;
  st.heads_per_group = options.heads_per_group;
  st.layers.resize(c.n_layer);
  const size_t n = static_cast<size_t>(c.kv_dim()) * c.d_model;
  for (LayerFisher& lf : st.layers) {
    lf.wk.assign(n, 0.0f);
    lf.wv.assign(n, 0.0f);
  }
  Progress progress("fisher", static_cast<int64_t>(batches.size()), "batch");
  if (!options.progress) progress.disable();
  Gradients grads;
  for (size_t b = 0; b < batches.size(); ++b) {
    auto loss = forward_backward(fwd, batches[b], LossOptions{}, BackwardOptions{}, &grads);
    if (!loss.ok()) return Status(loss.status()).with_context(fmt::format("fisher: batch {}", b));
    for (int l = 0; l < c.n_layer; ++l) {
      add_squares(grads.layers[l].wk, st.layers[l].wk);
      add_squares(grads.layers[l].wv, st.layers[l].wv);
    }
    st.mean_loss += loss->ce;
    st.n_tokens += fwd.rows();
    progress.set_note(fmt::format("loss {:.4f}", loss->ce));
    progress.add();
  }
  progress.finish();
  st.n_batches = static_cast<int64_t>(batches.size());
  st.mean_loss /= static_cast<double>(st.n_batches);
  const int64_t rows_per_group = int64_t{options.heads_per_group} * c.head_dim;
  for (LayerFisher& lf : st.layers) {
    lf.k_group = finish(lf.wk, st.n_batches, c.d_model, rows_per_group);
    lf.v_group = finish(lf.wv, st.n_batches, c.d_model, rows_per_group);
    lf.k_mean = mean_of(lf.k_group);
    lf.v_mean = mean_of(lf.v_group);
  }
  return st;
}

Result<std::vector<TokenBatch>> make_token_batches(const std::vector<int>& tokens, int ctx,
                                                   int batch, int max_batches) {
  if (ctx < 2 || batch < 1 || max_batches < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "token batches: ctx {} (>= 2), batch {} (>= 1), max {} (>= 0)", ctx, batch,
                      max_batches);
  }
  const int64_t n_windows = static_cast<int64_t>(tokens.size()) / ctx;
  if (n_windows == 0) {
    return make_error(ErrorCode::kInvalidArgument, "token batches: {} tokens hold no window of {}",
                      tokens.size(), ctx);
  }
  std::vector<TokenBatch> out;
  for (int64_t w = 0; w < n_windows; ++w) {
    if (w % batch == 0) {
      if (max_batches > 0 && static_cast<int>(out.size()) == max_batches) break;
      out.emplace_back();
    }
    out.back().emplace_back(tokens.begin() + w * ctx, tokens.begin() + (w + 1) * ctx);
  }
  return out;
}

}  // namespace lrkv
