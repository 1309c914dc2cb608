#include "compress/tune/distill.h"

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "core/progress.h"

namespace lrkv {

double DistillReport::mean_total(int64_t begin, int64_t end) const {
  begin = std::max<int64_t>(begin, 0);
  end = std::min<int64_t>(end, static_cast<int64_t>(losses.size()));
  double s = 0.0;
  for (int64_t i = begin; i < end; ++i) s += losses[i].total;
  return end > begin ? s / static_cast<double>(end - begin) : 0.0;
}

namespace {

Tensor vector_tensor(const float* data, int64_t n) {
  Tensor t = Tensor::zeros(DType::kF32, {n});
  std::copy_n(data, n, t.f32());
  return t;
}

Checkpoint make_checkpoint(DistillTask& task, const Adam& adam, const LlamaConfig& cfg,
                           int64_t step, const std::vector<LossValue>& losses) {
  Checkpoint c;
  for (const ParamRef& p : task.params())
    c.tensors["param/" + p.name] = vector_tensor(p.value, p.n);
  for (const auto& [name, s] : adam.state()) {
    c.tensors["adam.m/" + name] = vector_tensor(s.m.data(), static_cast<int64_t>(s.m.size()));
    c.tensors["adam.v/" + name] = vector_tensor(s.v.data(), static_cast<int64_t>(s.v.size()));
  }
  nlohmann::json hist = nlohmann::json::array();
  for (const LossValue& l : losses) hist.push_back({l.total, l.ce, l.kl});
  c.metadata["lrkv.tune.kind"] = task.kind();
  c.metadata["lrkv.tune.step"] = std::to_string(step);
  c.metadata["lrkv.tune.adam_steps"] = std::to_string(adam.steps());
  c.metadata["lrkv.tune.model"] = model_fingerprint(cfg);
  c.metadata["lrkv.tune.losses"] = hist.dump();
  task.save_extra(&c);
  return c;
}

// Restores parameters, optimiser state and loss history; returns the step to continue from.
Result<int64_t> restore(const Checkpoint& c, DistillTask& task, Adam* adam, const LlamaConfig& cfg,
                        std::vector<LossValue>* losses) {
  LRKV_ASSIGN_OR_RETURN(std::string kind, c.meta("lrkv.tune.kind"));
  if (kind != task.kind())
    return make_error(ErrorCode::kInvalidArgument, "checkpoint is for '{}' tuning, not '{}'", kind,
                      task.kind());
  LRKV_ASSIGN_OR_RETURN(std::string fp, c.meta("lrkv.tune.model"));
  if (fp != model_fingerprint(cfg)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "checkpoint is for a model with {}, this one has {}", fp,
                      model_fingerprint(cfg));
  }
  LRKV_RETURN_IF_ERROR(task.load_extra(c));
  std::map<std::string, Adam::Moments> state;
  for (const ParamRef& p : task.params()) {
    LRKV_ASSIGN_OR_RETURN(const Tensor* v, c.tensor("param/" + p.name, p.n));
    std::copy_n(v->f32(), p.n, p.value);
    LRKV_ASSIGN_OR_RETURN(const Tensor* m, c.tensor("adam.m/" + p.name, p.n));
    LRKV_ASSIGN_OR_RETURN(const Tensor* s, c.tensor("adam.v/" + p.name, p.n));
    state[p.name] = Adam::Moments{std::vector<float>(m->f32(), m->f32() + p.n),
                                  std::vector<float>(s->f32(), s->f32() + p.n)};
  }
  LRKV_ASSIGN_OR_RETURN(int64_t adam_steps, c.meta_int("lrkv.tune.adam_steps"));
  adam->restore(adam_steps, std::move(state));
  LRKV_ASSIGN_OR_RETURN(std::string hist, c.meta("lrkv.tune.losses"));
  const nlohmann::json j = nlohmann::json::parse(hist, nullptr, false);
  if (!j.is_array())
    return make_error(ErrorCode::kCorruptFile, "checkpoint loss history is not a JSON list");
  losses->clear();
  for (const auto& e : j) {
    LossValue l;
    l.total = e.at(0).get<double>();
    l.ce = e.at(1).get<double>();
    l.kl = e.at(2).get<double>();
    losses->push_back(l);
  }
  LRKV_RETURN_IF_ERROR(task.after_update());
  return c.meta_int("lrkv.tune.step");
}

Status check_options(const DistillOptions& o, const std::vector<TokenBatch>& batches) {
  if (o.steps < 0)
    return make_error(ErrorCode::kInvalidArgument, "--steps {} must be >= 0", o.steps);
  if (batches.empty())
    return make_error(ErrorCode::kInvalidArgument, "distillation needs at least one batch of text");
  if (!(o.adam.lr > 0.0))
    return make_error(ErrorCode::kInvalidArgument, "--lr {} must be > 0", o.adam.lr);
  if (o.resume && o.checkpoint.empty())
    return make_error(ErrorCode::kInvalidArgument, "--resume needs --checkpoint FILE");
  if (o.resume && !std::filesystem::exists(o.checkpoint)) {
    return make_error(ErrorCode::kNotFound, "--resume: checkpoint {} does not exist", o.checkpoint);
  }
  if (o.checkpoint_every < 1)
    return make_error(ErrorCode::kInvalidArgument, "--checkpoint-every {} must be >= 1",
                      o.checkpoint_every);
  return Status::Ok();
}

std::string loss_note(const DistillReport& r, int64_t step, double lr) {
  const int64_t k = std::min<int64_t>(20, step + 1);
  double ce = 0.0, kl = 0.0;
  for (int64_t i = step + 1 - k; i <= step; ++i) {
    ce += r.losses[i].ce;
    kl += r.losses[i].kl;
  }
  return fmt::format("loss {:.4f} (ce {:.4f} kl {:.4f}, mean of {}) lr {:.2g}",
                     r.mean_total(step + 1 - k, step + 1), ce / k, kl / k, k, lr);
}

}  // namespace

Result<DistillReport> run_distillation(TrainGraph& teacher, DistillTask& task,
                                       const std::vector<TokenBatch>& batches,
                                       const DistillOptions& o) {
  LRKV_RETURN_IF_ERROR(check_options(o, batches));
  TrainGraph& student = task.student();
  if (&teacher == &student)
    return make_error(ErrorCode::kInvalidArgument,
                      "distillation: teacher and student are one object");
  if (teacher.device() != student.device()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "distillation: teacher on {}, student on {}; both must be on one device",
                      teacher.device(), student.device());
  }
  teacher.set_needs_backward(false);
  const LlamaConfig& cfg = student.config();
  Adam adam(o.adam);
  DistillReport report;
  if (o.resume) {
    LRKV_ASSIGN_OR_RETURN(Checkpoint c, load_checkpoint(o.checkpoint));
    LRKV_ASSIGN_OR_RETURN(report.start_step, restore(c, task, &adam, cfg, &report.losses));
    log_info("resumed {} at step {}", o.checkpoint, report.start_step);
  }
  const LrSchedule lr{o.adam.lr, o.warmup, o.steps, o.min_lr_ratio};
  LossOptions loss;
  loss.ce_weight = o.ce_weight;
  loss.kl_weight = o.kl_weight;
  Gradients grads;
  Progress progress("tune " + task.kind(), std::max<int64_t>(o.steps, 1), "step");
  if (!o.progress) progress.disable();
  progress.skip(std::min(report.start_step, o.steps));
  auto save = [&](int64_t step) -> Status {
    if (o.checkpoint.empty()) return Status::Ok();
    return save_checkpoint(make_checkpoint(task, adam, cfg, step, report.losses), o.checkpoint);
  };
  const auto t0 = std::chrono::steady_clock::now();
  double graph_sec = 0.0;  // teacher + student forward/backward
  for (int64_t s = report.start_step; s < o.steps; ++s) {
    const TokenBatch& batch =
        batches[batch_for_step(o.seed, s, static_cast<int64_t>(batches.size()))];
    LRKV_RETURN_IF_ERROR(task.prepare_step(s));
    const auto g0 = std::chrono::steady_clock::now();
    LRKV_RETURN_IF_ERROR(teacher.forward(batch));
    LRKV_RETURN_IF_ERROR(student.forward(batch));
    LRKV_ASSIGN_OR_RETURN(LossValue value,
                          student.loss_backward(loss, &teacher, task.backward_options(), &grads));
    graph_sec += std::chrono::duration<double>(std::chrono::steady_clock::now() - g0).count();
    LRKV_RETURN_IF_ERROR(task.collect_gradients(grads));
    const std::vector<ParamRef> params = task.params();
    Result<double> norm = adam.step(params, lr.at(s));
    if (!norm.ok()) return Status(norm.status()).with_context(fmt::format("step {}", s));
    LRKV_RETURN_IF_ERROR(task.after_update());
    report.losses.push_back(value);
    progress.set_note(loss_note(report, s, lr.at(s)));
    progress.add(1);
    if ((s + 1) % o.checkpoint_every == 0 && s + 1 < o.steps) {
      LRKV_RETURN_IF_ERROR(save(s + 1));
      log_info("step {}: {} (checkpoint {})", s + 1, loss_note(report, s, lr.at(s)), o.checkpoint);
    }
  }
  progress.finish();
  const int64_t ran = std::max<int64_t>(0, o.steps - report.start_step);
  if (ran > 0) {
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log_info("{} steps on {} in {:.1f} s ({:.2f} step/s; forward/backward {:.1f} s, gradients to "
             "parameters and optimiser {:.1f} s)",
             ran, student.device(), sec, ran / sec, graph_sec, sec - graph_sec);
  }
  report.end_step = std::max(report.start_step, o.steps);
  LRKV_RETURN_IF_ERROR(save(report.end_step));
  return report;
}

}  // namespace lrkv
