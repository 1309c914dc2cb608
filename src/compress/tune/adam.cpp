#include "compress/tune/adam.h"

#include <cmath>

#include "core/thread_pool.h"

namespace lrkv {

double gradient_norm(const std::vector<ParamRef>& params) {
  double s = 0.0;
  for (const ParamRef& p : params) {
    for (int64_t i = 0; i < p.n; ++i) s += static_cast<double>(p.grad[i]) * p.grad[i];
  }
  return std::sqrt(s);
}

Result<double> Adam::step(const std::vector<ParamRef>& params, double lr) {
  for (const ParamRef& p : params) {
    if (p.value == nullptr || p.grad == nullptr || p.n <= 0) {
      return make_error(ErrorCode::kInvalidArgument, "adam: parameter '{}' has no buffers", p.name);
    }
    auto it = state_.find(p.name);
    if (it == state_.end()) {
      state_[p.name] = Moments{std::vector<float>(p.n, 0.0f), std::vector<float>(p.n, 0.0f)};
    } else if (static_cast<int64_t>(it->second.m.size()) != p.n ||
               static_cast<int64_t>(it->second.v.size()) != p.n) {
      return make_error(ErrorCode::kShapeMismatch,
                        "adam: parameter '{}' has {} values, its state {}", p.name, p.n,
                        it->second.m.size());
    }
  }
  const double norm = gradient_norm(params);
  if (!std::isfinite(norm))
    return make_error(ErrorCode::kInvalidArgument, "adam: non-finite gradient");
  const double scale = (o_.clip_norm > 0.0 && norm > o_.clip_norm) ? o_.clip_norm / norm : 1.0;
  ++t_;
  const double bc1 = 1.0 - std::pow(o_.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(o_.beta2, static_cast<double>(t_));
  const float b1 = static_cast<float>(o_.beta1), b2 = static_cast<float>(o_.beta2);
  const float step_size = static_cast<float>(lr / bc1), inv_bc2 = static_cast<float>(1.0 / bc2);
  const float eps = static_cast<float>(o_.eps), gs = static_cast<float>(scale);
  for (const ParamRef& p : params) {
    Moments& s = state_[p.name];
    global_pool().parallel_for(p.n, 4096, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const float g = gs * p.grad[i];
        s.m[i] = b1 * s.m[i] + (1.0f - b1) * g;
        s.v[i] = b2 * s.v[i] + (1.0f - b2) * g * g;
        p.value[i] -= step_size * s.m[i] / (std::sqrt(s.v[i] * inv_bc2) + eps);
      }
    });
  }
  return norm;
}

void Adam::restore(int64_t steps, std::map<std::string, Moments> state) {
  t_ = steps;
  state_ = std::move(state);
}

}  // namespace lrkv
