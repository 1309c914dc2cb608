// Next-token training losses over the logits of a batch (rows = tokens, sequences in order, as
// TrainForward produces them), each returning its value and dLoss/dlogits:
//   CE  = mean over predicted rows t of −log softmax(logits_t)[token_{t+1}]
//         (predicted row: not the last of its sequence, mask[t] != 0)
//   KL  = mean over rows t with mask[t] != 0 of KL(teacher_t ‖ student_t)
//       = Σ_v p_T,v (log p_T,v − log p_S,v),   d/dlogits_t = (p_S − p_T) / n_kl
//   total = ce_weight · CE + kl_weight · KL    (MatryoshkaKV: 0.75 CE + 0.25 KL)
// Teacher rows are logits or log-probabilities (log_softmax is applied, so either works).
// Softmax statistics in double; cost O(T · n_vocab), threaded over rows; deterministic.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "model/train/causal_attention.h"

namespace lrkv {

struct LossOptions {
  float ce_weight = 1.0f;
  float kl_weight = 0.0f;
  const float* teacher = nullptr;              // [T, n_vocab]; required when kl_weight != 0
  const std::vector<uint8_t>* mask = nullptr;  // [T]; 0 drops row t from both terms; null = all
};

struct LossValue {
  double total = 0.0, ce = 0.0, kl = 0.0;  // ce / kl are the unweighted means
  int64_t n_ce = 0, n_kl = 0;              // rows averaged over
};

// Which rows carry which term, by the rules above (shared with the GPU loss, cuda_train_graph).
struct LossRows {
  std::vector<int> target;  // [T] next token of a CE row, else -1
  std::vector<uint8_t> kl;  // [T] 1 for a KL row
  int64_t n_ce = 0, n_kl = 0;
  double a = 0.0, b = 0.0;  // gradient weights: ce_weight / n_ce, kl_weight / n_kl
};
// Checks the weights (finite, >= 0, not both 0), the mask's length, that the sequences tile the
// tokens and that some row has a term. The teacher pointer is not looked at.
Result<LossRows> loss_rows(const std::vector<SeqRange>& seqs, const std::vector<int>& tokens,
                           const LossOptions& options);
// The loss value from the sums of the per-row CE and KL terms.
LossValue finish_loss(const LossRows& rows, double ce_sum, double kl_sum, const LossOptions& options);

// logits [T, n_vocab] with T = Σ seqs[i].n and tokens [T]. Writes dL/dlogits into dlogits
// [T, n_vocab] (may alias logits, not the teacher); rows outside both terms get zeros.
Result<LossValue> next_token_loss(const std::vector<SeqRange>& seqs, const std::vector<int>& tokens,
                                  const float* logits, int64_t n_vocab, const LossOptions& options,
                                  float* dlogits);

}  // namespace lrkv
