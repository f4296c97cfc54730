// Reconstruction of one unit (a Block): AdaRound rounding variables and LSQ activation scales
// optimised with Adam so that the quantized block's output matches the float block's output
// (BRECQ), optionally with QDrop (activation quantization dropped per element, block inputs mixed
// between the quantized and the float network).
//
// Data: block inputs from the already-quantized preceding network (fp32, [samples][elements] per
// input), optional float-network inputs for QDrop's mixing, float targets cached as fp16. Mini-batches
// are drawn from a seeded generator and every random choice is a function of (seed, step, element),
// so results do not depend on how many threads run.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kiln/calib/recon/block.h"

namespace kiln::calib::recon {

// IEEE binary16 <-> binary32, round to nearest even (targets are cached in fp16 to bound memory).
uint16_t float_to_half(float f);
// Exact, branch-free (selects only) and inline, so that loops over cached targets vectorise.
inline float half_to_float(uint16_t h) {
  const uint32_t em = h & 0x7fffu;
  const float sub = static_cast<float>(static_cast<int32_t>(em)) * (1.0f / 16777216.0f);  // em < 0x400
  uint32_t sub_bits;
  std::memcpy(&sub_bits, &sub, 4);
  const uint32_t norm = em >= 0x7c00u ? 0x7f800000u | ((em & 0x3ffu) << 13) : (em << 13) + 0x38000000u;
  const uint32_t x = (em < 0x400u ? sub_bits : norm) | ((static_cast<uint32_t>(h) & 0x8000u) << 16);
  float out;
  std::memcpy(&out, &x, 4);
  return out;
}

// The reconstruction loss is BRECQ / AdaRound / QDrop's: squared error summed over the channels,
// averaged over the samples and the output pixels, so that lambda weighs the rounding regulariser
// against one pixel's error whatever a unit's resolution (a sum over all pixels made it up to 784
// times weaker, and the rounding variables did not converge to 0 or 1 before hardening).
struct ReconOptions {
  int iters = 1000;
  size_t batch = 32;
  float lr_adaround = 1e-3f;  // Adam on V
  // Adam on the LSQ scales (0: scales stay as observed), annealed to 0 along a cosine. QDrop's official
  // 4e-5 is for 20,000 iterations per unit; at kiln's 2,000 it lets a scale travel a tenth as far
  // (2-bit scales hit that limit), so the step is ten times larger, as lr_adaround's 1e-2 is.
  float lr_scale = 4e-4f;
  float lambda = 0.01f;       // rounding regulariser weight
  float warmup = 0.2f;        // fraction of iterations without the regulariser
  float beta_start = 20.0f, beta_end = 2.0f;
  float drop_prob = 0.0f;     // QDrop: activation quantization dropped per element
  float input_mix_prob = 0.0f;  // QDrop: per element, the float-network input is used
  // QDrop: the fraction of the iterations that drop and mix; the rest train the unit as it will run,
  // fully quantized (docs/accuracy.md: 0.8 against 1.0 at 2,000 iterations per unit).
  float drop_until = 1.0f;
  uint64_t seed = 0;
  int threads = 1;            // oneDNN threads (results do not depend on it beyond fp32 reduction order)
  // Called every `progress_every` iterations and at the end: (iteration, loss per sample and pixel).
  std::function<void(int iter, double loss)> progress;
  int progress_every = 100;
};

// Step t (0-based) of `lr` annealed to 0 along a cosine over `iters` steps (PyTorch's
// CosineAnnealingLR with eta_min 0, stepped once per iteration): lr at t = 0, lr / 2 half-way.
inline float cosine_annealed(float lr, int t, int iters) {
  if (iters <= 0) return lr;
  return 0.5f * lr * (1.0f + std::cos(3.14159265358979f * static_cast<float>(t) / static_cast<float>(iters)));
}

struct ReconData {
  size_t samples = 0;
  std::vector<std::vector<float>> inputs;        // per block input: [samples * elements]
  std::vector<std::vector<float>> float_inputs;  // optional (QDrop mixing), same layout
  std::vector<uint16_t> targets;                 // fp16 [samples * output elements]
  std::vector<uint16_t> fisher;                  // optional fp16 weights, same layout (empty: plain MSE)
};

struct ReconResult {
  double initial_loss = 0.0;  // hard-rounded (nearest) block before training, per sample and pixel
  double final_loss = 0.0;    // hard-rounded block after training, per sample and pixel
  int iterations = 0;
  // Training ended above the nearest-rounded loss (it happens on units that end in a saturating
  // activation at few bits): the unit went back to its starting rounding and steps, final = initial.
  bool reverted = false;
};

// Squared difference between the block (in its current mode) and the targets, per sample and output
// pixel (summed over channels), over all samples, in batches.
std::string evaluate_loss(Block& block, const ReconData& data, size_t batch, double* loss);

// Trains the block's quantizers (the block must have quantization enabled), then hardens AdaRound.
std::string reconstruct(Block& block, const ReconData& data, const ReconOptions& options, ReconResult* result);

}  // namespace kiln::calib::recon
