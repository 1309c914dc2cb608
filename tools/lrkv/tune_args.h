// Flags shared by the commands that run the distillation loop (tune, convert-gqa): training
// text windows, optimiser, schedule, loss weights, checkpoints; and the text -> batches step.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "backend/device_compute.h"
#include "compress/tune/distill.h"
#include "core/log.h"
#include "io/text_source.h"
#include "model/train/fisher.h"

namespace lrkv::cli {

struct DistillArgs {
  int batch = 4;           // windows per step
  int ctx = 256;           // tokens per window
  int64_t max_tokens = 0;  // training tokens used (0 = all)
  std::string device = "cpu";  // cpu, or cuda: the training GEMMs on cuBLAS (device_args.h)
  DistillOptions o;

  // `lr` is the default learning rate of the command.
  void add_to(CLI::App* cmd, double lr, const std::string& steps_flag) {
    o.adam.lr = lr;
    o.warmup = 10;
    o.min_lr_ratio = 0.1;
    cmd->add_option(steps_flag, o.steps, "Optimiser steps")->capture_default_str();
    cmd->add_option("--batch", batch, "Windows per step")->capture_default_str();
    cmd->add_option("--ctx", ctx, "Tokens per training window")->capture_default_str();
    cmd->add_option("--max-tokens", max_tokens, "Training tokens used (0 = the whole text)")
        ->capture_default_str();
    cmd->add_option("--lr", o.adam.lr, "Peak Adam learning rate")->capture_default_str();
    cmd->add_option("--warmup", o.warmup, "Linear warm-up steps")->capture_default_str();
    cmd->add_option("--min-lr-ratio", o.min_lr_ratio,
                    "Cosine decay to this fraction of --lr (1 = constant)")
        ->capture_default_str();
    cmd->add_option("--clip", o.adam.clip_norm, "Clip the global gradient norm (0 = off)")
        ->capture_default_str();
    cmd->add_option("--ce-weight", o.ce_weight, "Weight of the next-token cross-entropy")
        ->capture_default_str();
    cmd->add_option("--kl-weight", o.kl_weight, "Weight of KL(teacher || student)")
        ->capture_default_str();
    cmd->add_option("--seed", o.seed, "Seed of batch order and rank sampling")
        ->capture_default_str();
    cmd->add_option("--checkpoint", o.checkpoint,
                    "Checkpoint file (.safetensors), saved every --checkpoint-every steps");
    cmd->add_option("--checkpoint-every", o.checkpoint_every, "Steps between checkpoints")
        ->capture_default_str();
    cmd->add_flag("--resume", o.resume, "Continue from --checkpoint");
    cmd->add_option("--device", device,
                    "cpu, or cuda: the whole training forward/backward (teacher and student) on the GPU in "
                    "fp32, weights and activations in device memory (needs a -DLRKV_CUDA=ON build)")
        ->capture_default_str();
  }

  Status check() const {
    if (batch < 1) return make_error(ErrorCode::kInvalidArgument, "--batch {} must be >= 1", batch);
    if (ctx < 2) return make_error(ErrorCode::kInvalidArgument, "--ctx {} must be >= 2", ctx);
    if (max_tokens < 0)
      return make_error(ErrorCode::kInvalidArgument, "--max-tokens {} must be >= 0", max_tokens);
    if (!(o.min_lr_ratio >= 0.0 && o.min_lr_ratio <= 1.0)) {
      return make_error(ErrorCode::kInvalidArgument, "--min-lr-ratio {} must be in [0, 1]",
                        o.min_lr_ratio);
    }
    if (o.warmup < 0)
      return make_error(ErrorCode::kInvalidArgument, "--warmup {} must be >= 0", o.warmup);
    if (!(o.adam.clip_norm >= 0.0))
      return make_error(ErrorCode::kInvalidArgument, "--clip {} must be >= 0", o.adam.clip_norm);
    return check_device(device);  // before any long work
  }

  // Tokenizes the text (BOS per document) into windows of ctx tokens, `batch` per step.
  Result<std::vector<TokenBatch>> batches(const Model& m, const TextSourceOptions& text) const {
    if (!m.tokenizer)
      return make_error(ErrorCode::kInvalidArgument,
                        "{}: no tokenizer found; pass --tokenizer FILE", m.source_path);
    LRKV_ASSIGN_OR_RETURN(auto docs, read_documents(text));
    std::vector<int> tokens = tokenize_documents(*m.tokenizer, docs, true);
    if (max_tokens > 0 && static_cast<int64_t>(tokens.size()) > max_tokens)
      tokens.resize(max_tokens);
    LRKV_ASSIGN_OR_RETURN(auto out, make_token_batches(tokens, ctx, batch));
    log_info("training text {}{}: {} documents, {} tokens -> {} batches of {} x {}", text.path,
             text.range.empty() ? "" : " [" + text.range + "]", docs.size(), tokens.size(),
             out.size(), batch, ctx);
    if (o.steps > static_cast<int64_t>(out.size())) {
      log_info("{} steps = {:.1f} passes over the training text", o.steps,
               static_cast<double>(o.steps) / static_cast<double>(out.size()));
    }
    return out;
  }
};

}  // namespace lrkv::cli
