// MatryoshkaKV training (METHODS.md section 4) as a distillation task. Per (layer l, KV head g):
//   U_K = U0_K · C(A_K),  U_V = U0_V · C(A_V)      U0 [hd, hd] orthogonal PCA bases, C = Cayley
//   trained: A_K, A_V [hd, hd] skew (start at 0), mu_K, mu_V [hd]
// Each step every (l, g, K|V) keeps a rank drawn from the Matryoshka set (schedule.h), so every
// prefix of U's columns learns to work alone. Forward maths: kv_projection.h (keys/queries
// projected after RoPE; mu_K has no effect through softmax, so it keeps its PCA value).
// Parameter names: blk.L.kv.G.{a_k, a_v, mu_k, mu_v}. Memory: ~6·hd² doubles per head.
#pragma once

#include <memory>
#include <vector>

#include "compress/calibration.h"
#include "compress/tune/distill.h"

namespace lrkv {

// PCA initialisation from calibration moments: per (layer, KV head) the eigenvectors of the
// centred covariance of post-RoPE keys (values), by descending eigenvalue, each column's
// largest-magnitude entry positive, the last column negated if needed so det = +1; mu = the
// calibration means. Full rank. (At A = 0 this is exactly compress_model's mkv-pca factors.)
Result<KvProjections> mkv_pca_projections(const CalibrationStats& calib, const LlamaConfig& cfg);

class MkvTask final : public DistillTask {
 public:
  // `model` (the original, uncompressed) must outlive the task. `init`: orthogonal U, means.
  // `graphs` builds the student's training graph (CPU by default).
  static Result<std::unique_ptr<MkvTask>> create(const Model& model, const KvProjections& init,
                                                 uint64_t seed, std::vector<int> rank_set,
                                                 const TrainGraphFactory& graphs = cpu_train_graphs());

  std::string kind() const override { return "mkv"; }
  TrainGraph& student() override { return *fwd_; }
  BackwardOptions backward_options() const override { return {false, false}; }
  std::vector<ParamRef> params() override;
  Status prepare_step(int64_t step) override;
  Status collect_gradients(const Gradients& grads) override;
  Status after_update() override;  // U = U0 · C(A)
  void save_extra(Checkpoint* c) const override;
  Status load_extra(const Checkpoint& c) override;

  // Current projections (U, mu) with this step's ranks.
  const KvProjections& projections() const { return proj_; }
  // Current projections with every rank set to head_dim.
  KvProjections full_rank_projections() const;
  const std::vector<int>& rank_set() const { return rank_set_; }

 private:
  struct Head {
    Mat u0_k, u0_v;                   // [hd, hd] fixed
    Mat c_k, c_v;                     // [hd, hd] Cayley of the current A
    std::vector<float> a_k, a_v;      // [hd * hd] parameters
    std::vector<float> ga_k, ga_v;    // [hd * hd] gradients
    std::vector<float> gmu_k, gmu_v;  // [hd]
  };
  MkvTask(std::unique_ptr<TrainGraph> fwd, KvProjections proj, uint64_t seed, std::vector<int> rank_set);
  std::string head_name(size_t i, const char* what) const;

  std::unique_ptr<TrainGraph> fwd_;
  KvProjections proj_;       // current U (float) and the mu parameters; ranks of this step
  std::vector<Head> heads_;  // [n_layer * n_kv_head]
  uint64_t seed_;
  std::vector<int> rank_set_;
};

}  // namespace lrkv
