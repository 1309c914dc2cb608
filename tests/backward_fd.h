// Finite-difference helpers shared by the backward_*_test.cpp files: central differences of an
// fp64 loss (model/train/ref_train.h) with respect to fp32 parameters stored in memory, and
// relative-error reporting with the worst element.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "model/synth.h"
#include "model/train/ref_train.h"
#include "model/train/train_step.h"
#include "test_util.h"

namespace lrkv::test {

struct FdCheck {
  double rel = 0.0;        // ‖g − g_fd‖ / ‖g_fd‖
  double norm_fd = 0.0;    // ‖g_fd‖
  double worst_abs = 0.0;  // max |g − g_fd|
  size_t worst = 0;
  size_t checked = 0;
  double sq_err = 0.0;  // running Σ (g − g_fd)²

  // Records element i (analytic g, finite difference fd) and updates rel / norm_fd.
  void add(size_t i, double g, double fd) {
    const double e = std::fabs(g - fd);
    sq_err += e * e;
    norm_fd = std::sqrt(norm_fd * norm_fd + fd * fd);
    rel = norm_fd > 0 ? std::sqrt(sq_err) / norm_fd : std::sqrt(sq_err);
    if (e > worst_abs) {
      worst_abs = e;
      worst = i;
    }
    ++checked;
  }
};

// Central difference of loss() in the float at *w. The step applied is fl(w ± eps) − w, which is
// exact in double, so no rounding of the perturbation enters the quotient.
template <class LossFn>
double fd_at(float* w, double eps, LossFn&& loss) {
  const float w0 = *w;
  const float wp = static_cast<float>(w0 + eps), wm = static_cast<float>(w0 - eps);
  *w = wp;
  const double lp = loss();
  *w = wm;
  const double lm = loss();
  *w = w0;
  return (lp - lm) / (static_cast<double>(wp) - static_cast<double>(wm));
}

// Compares g[i] with the finite difference at w[i] for i = 0, stride, 2·stride, ... < n.
template <class LossFn>
FdCheck check_grad(float* w, const float* g, size_t n, LossFn&& loss, double eps = 1e-3,
                   size_t stride = 1) {
  FdCheck c;
  for (size_t i = 0; i < n; i += stride) c.add(i, g[i], fd_at(w + i, eps, loss));
  return c;
}

inline std::string describe(const FdCheck& c) {
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "rel err %.3g over %zu elements (|g_fd| %.3g, worst |diff| %.3g at %zu)", c.rel,
                c.checked, c.norm_fd, c.worst_abs, c.worst);
  return buf;
}

// Prints the observed error so test logs record it.
inline void report(const std::string& what, const FdCheck& c) {
  std::printf("[ fd       ] %-40s %s\n", what.c_str(), describe(c).c_str());
}

// Pseudo-random token sequences of the given lengths.
inline TokenBatch some_batch(const std::vector<int>& lengths, int vocab, int salt = 0) {
  TokenBatch b;
  for (size_t s = 0; s < lengths.size(); ++s) {
    std::vector<int> t(lengths[s]);
    for (int i = 0; i < lengths[s]; ++i)
      t[i] = static_cast<int>((i * 37 + 11 + (s + salt) * 101 + i * i * 7) % vocab);
    t[0] = 1;
    b.push_back(std::move(t));
  }
  return b;
}

// A loss on a tiny model, its fp32 gradients (TrainForward) and fp64 finite differences (ref).
struct GradProblem {
  Model model;
  TokenBatch batch;
  LossOptions loss;
  std::vector<float> teacher;  // [T, n_vocab] when the loss has a KL term
  const KvProjections* proj = nullptr;
  std::map<std::pair<int, int>, std::vector<float>> act_grads;  // (layer, point) -> [T, cols]
  Gradients grads;
  LossValue value;

  int64_t vocab() const { return model.config.n_vocab; }

  // Teacher logits from another random model of the same shapes, and the loss mix.
  void set_mix(float ce, float kl, uint64_t teacher_seed = 99) {
    loss.ce_weight = ce;
    loss.kl_weight = kl;
    auto tm = make_random_model(model.config, teacher_seed);
    ASSERT_TRUE(tm.ok());
    auto tf = TrainForward::create(*tm);
    ASSERT_TRUE(tf.ok());
    ASSERT_TRUE(tf->forward(batch).ok());
    teacher = tf->logits();
    loss.teacher = teacher.data();
  }

  double ref_loss(const ref::RefHookFn& hook = {}) const {
    return ref::train_loss(ref::train_logits(model, proj, batch, hook), batch, vocab(), loss);
  }

  // fp32 forward + loss + backward, recording the gradient at every named point.
  void run(const BackwardOptions& o) {
    auto fwd = TrainForward::create(model);
    ASSERT_TRUE(fwd.ok()) << fwd.status().to_string();
    ASSERT_TRUE(fwd->set_projections(proj).ok());
    act_grads.clear();
    fwd->set_grad_hook([&](int l, HookPoint p, float* d, int64_t rows, int64_t cols) {
      act_grads[{l, static_cast<int>(p)}].assign(d, d + rows * cols);
    });
    auto v = forward_backward(*fwd, batch, loss, o, &grads);
    ASSERT_TRUE(v.ok()) << v.status().to_string();
    value = *v;
  }

  // Finite differences of the fp64 loss in the activation at (layer, point) of every
  // stride-th element, against the recorded fp32 gradient.
  FdCheck check_act(int layer, HookPoint point, double eps = 1e-4, size_t stride = 1) const {
    const std::vector<float>& g = act_grads.at({layer, static_cast<int>(point)});
    std::vector<int> seq_of, local;  // sequence and position of each batch row
    for (size_t s = 0; s < batch.size(); ++s) {
      for (size_t t = 0; t < batch[s].size(); ++t) {
        seq_of.push_back(static_cast<int>(s));
        local.push_back(static_cast<int>(t));
      }
    }
    const size_t cols = g.size() / seq_of.size();
    FdCheck c;
    for (size_t i = 0; i < g.size(); i += stride) {
      const size_t r = i / cols, col = i % cols;
      auto at = [&](double delta) {
        return ref_loss([&](int s, int l, HookPoint p, double* d, int64_t, int64_t nc) {
          if (s == seq_of[r] && l == layer && p == point) d[local[r] * nc + col] += delta;
        });
      };
      c.add(i, g[i], (at(eps) - at(-eps)) / (2 * eps));
    }
    return c;
  }
};

}  // namespace lrkv::test
