// summarize_kernels against hand-computed totals, short_kernel_name, and measure_speed's traced
// pass (a scripted tracer: the window must be exactly the traced run's decode steps).
#include <gtest/gtest.h>

#include "eval/report/kernel_profile.h"
#include "eval/report/speed.h"
#include "model/cpu_engine.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

KernelRecord rec(const std::string& name, uint64_t start, uint64_t end, int grid = 1) {
  KernelRecord r;
  r.name = name;
  r.start_ns = start;
  r.end_ns = end;
  r.grid[0] = grid;
  r.block[0] = 128;
  return r;
}

TEST(KernelProfile, TotalsAreUnionSumAndIdleOfTheWindow) {
  // Window [1000, 11000] ns, 2 steps. In start order:
  //   gemv g=4   [1000, 3000)   2000 ns
  //   attn       [2500, 4000)   1500 ns, overlaps gemv by 500 (PDL): gap -500
  //   gemv g=8   [5000, 6000)   1000 ns, gap +1000 after attn
  //   gemv g=4   [6000, 8000)   2000 ns, gap 0
  //   attn       [9000, 9500)    500 ns, gap +1000
  // Outside the window (dropped): [500, 900) and [11500, 12000).
  std::vector<KernelRecord> r = {rec("attn", 9000, 9500),  rec("gemv", 1000, 3000, 4), rec("gemv", 6000, 8000, 4),
                                 rec("attn", 2500, 4000),  rec("gemv", 5000, 6000, 8), rec("early", 500, 900),
                                 rec("late", 11500, 12000)};
  auto p = summarize_kernels(r, 2, 1000, 11000, "test");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->launches, 5);
  EXPECT_DOUBLE_EQ(p->window_us, 10000e-3 / 2);
  // Union: [1000, 4000) + [5000, 8000) + [9000, 9500) = 6500 ns.
  EXPECT_DOUBLE_EQ(p->busy_us, 6500e-3 / 2);
  EXPECT_DOUBLE_EQ(p->kernel_sum_us, 7000e-3 / 2);
  EXPECT_DOUBLE_EQ(p->idle_us, 3500e-3 / 2);
  ASSERT_EQ(p->rows.size(), 3u);  // gemv g=4, attn, gemv g=8: (name, grid) apart
  EXPECT_EQ(p->rows[0].name, "gemv");
  EXPECT_EQ(p->rows[0].grid[0], 4);
  EXPECT_DOUBLE_EQ(p->rows[0].us_per_step, 4000e-3 / 2);
  EXPECT_DOUBLE_EQ(p->rows[0].exclusive_us_per_step, 4000e-3 / 2);
  EXPECT_DOUBLE_EQ(p->rows[0].launches_per_step, 1.0);
  EXPECT_DOUBLE_EQ(p->rows[0].mean_us, 2.0);
  EXPECT_DOUBLE_EQ(p->rows[0].mean_gap_us, 0.0);  // the first has no predecessor; the other: 0
  EXPECT_DOUBLE_EQ(p->rows[0].share, 2.0 / 5.0);
  EXPECT_EQ(p->rows[1].name, "attn");
  EXPECT_DOUBLE_EQ(p->rows[1].mean_gap_us, (-500e-3 + 1000e-3) / 2);
  // Exclusive: [3000, 4000) of the first (gemv covers [2500, 3000)) and all of the second.
  EXPECT_DOUBLE_EQ(p->rows[1].us_per_step, 2000e-3 / 2);
  EXPECT_DOUBLE_EQ(p->rows[1].exclusive_us_per_step, 1500e-3 / 2);
  EXPECT_DOUBLE_EQ(p->rows[1].share, 0.75 / 5.0);
  double exclusive = 0;
  for (const KernelProfileRow& row : p->rows) exclusive += row.exclusive_us_per_step;
  EXPECT_DOUBLE_EQ(exclusive, p->busy_us);  // the exclusive times partition busy
  EXPECT_EQ(p->rows[2].grid[0], 8);
  EXPECT_DOUBLE_EQ(p->rows[2].mean_gap_us, 1.0);
  const std::string md = kernel_profile_markdown(*p, "decode", 0.15);
  EXPECT_NE(md.find("| gemv | 4 | 128 | 1.00 | 2.0 | 40.0% | 2.00 | 0.00 |"), std::string::npos) << md;
  EXPECT_NE(md.find("(1 other kernels)"), std::string::npos) << md;  // gemv g=8: 10% < 15%
}

TEST(KernelProfile, KernelsCoveringEachOtherCountOnceInBusy) {
  // [0, 10) holds [2, 4) and [5, 12): union [0, 12) clipped to the window's end 11.
  auto p = summarize_kernels({rec("a", 0, 10), rec("b", 2, 4), rec("c", 5, 12)}, 1, 0, 11);
  ASSERT_TRUE(p.ok());
  EXPECT_DOUBLE_EQ(p->busy_us, 11e-3);
  EXPECT_DOUBLE_EQ(p->kernel_sum_us, 19e-3);
  ASSERT_EQ(p->rows.size(), 3u);  // a: [0, 10); b: nothing of its own; c: [10, 11)
  EXPECT_EQ(p->rows[0].name, "a");
  EXPECT_DOUBLE_EQ(p->rows[0].exclusive_us_per_step, 10e-3);
  EXPECT_DOUBLE_EQ(p->rows[1].exclusive_us_per_step, 1e-3);
  EXPECT_DOUBLE_EQ(p->rows[2].exclusive_us_per_step, 0.0);
}

TEST(KernelProfile, BadWindowsAreErrors) {
  EXPECT_FALSE(summarize_kernels({}, 0, 0, 10).ok());
  EXPECT_FALSE(summarize_kernels({}, 1, 10, 10).ok());
  auto empty = summarize_kernels({}, 3, 0, 3000);  // no kernel: all idle, not an error
  ASSERT_TRUE(empty.ok());
  EXPECT_DOUBLE_EQ(empty->idle_us, 1.0);
  EXPECT_TRUE(empty->rows.empty());
}

TEST(KernelProfile, ShortNamesDropReturnTypeArgumentsAndAnonymousNamespaces) {
  EXPECT_EQ(short_kernel_name("void lrkv::cuda::(anonymous namespace)::skinny<__half, 4>(lrkv::cuda::Args, int)"),
            "lrkv::cuda::skinny<__half, 4>");
  EXPECT_EQ(short_kernel_name("void f<((anonymous namespace)::Mode)1>(float*)"), "f<(Mode)1>");
  EXPECT_EQ(short_kernel_name("_Z3fooPf"), "_Z3fooPf");  // not demangled: kept
  EXPECT_EQ(short_kernel_name("gemv(int (*)(float))"), "gemv");
}

// Hands out marks 100, 200, ... and returns, on stop(), one kernel per mark interval: so the
// profile's window must be the interval between the two marks of the traced decode loop.
class ScriptedTracer final : public KernelTracer {
 public:
  Status start() override {
    ++starts;
    return Status::Ok();
  }
  uint64_t now_ns() override { return marks += 100; }
  Result<std::vector<KernelRecord>> stop() override {
    ++stops;
    std::vector<KernelRecord> r;
    for (uint64_t t = 0; t < marks; t += 100) r.push_back(rec("k" + std::to_string(t), t + 10, t + 60));
    return r;
  }
  std::string source() const override { return "scripted"; }
  int starts = 0, stops = 0;
  uint64_t marks = 0;
};

TEST(KernelProfile, MeasureSpeedTracesOnlyTheTracedRunsDecodeSteps) {
  auto m = make_random_model(test::tiny_config(2, 4, 2, 8), 3);
  ASSERT_TRUE(m.ok());
  CpuEngine engine(*m);
  ScriptedTracer tracer;
  SpeedOptions o;
  o.ctx = 8;
  o.n_gen = 3;
  o.reps = 1;
  o.tracer = &tracer;
  auto s = measure_speed(engine, o);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(tracer.starts, 1);
  EXPECT_EQ(tracer.stops, 1);
  EXPECT_EQ(tracer.marks, 200u);  // two marks: the traced run's decode loop
  ASSERT_TRUE(s->decode_profile.has_value());
  EXPECT_EQ(s->decode_profile->steps, 3);
  EXPECT_EQ(s->decode_profile->source, "scripted");
  ASSERT_EQ(s->decode_profile->rows.size(), 1u);  // [110, 160): the kernel after the first mark
  EXPECT_EQ(s->decode_profile->rows[0].name, "k100");
  EXPECT_DOUBLE_EQ(s->decode_profile->window_us, 100e-3 / 3);
  EXPECT_GT(s->decode_tps, 0.0);

  o.n_gen = 0;  // nothing to trace
  EXPECT_FALSE(measure_speed(engine, o).ok());
  o.tracer = nullptr;
  EXPECT_TRUE(measure_speed(engine, o).ok());
}

}  // namespace
}  // namespace lrkv
