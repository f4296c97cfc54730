// gemm_run: tiles C into (column chunk, row chunk) tasks over the TaskRunner. Inside a task the
// column blocks are the outer loop, so one packed block (kc * nr bytes: 64 KiB for K = 4096,
// nr = 16) stays in L1/L2 while every row tile of the chunk streams past it.
#include <algorithm>

#include "gemm/epilogue_scalar.h"
#include "kiln/kernels/gemm.h"
#include "kiln/kernels/pack.h"

namespace kiln::kernels {

std::string gemm_run(const GemmConfig& cfg, const GemmProblem& pb, TaskRunner* runner) {
  if (pb.m == 0 || pb.n == 0) return "";
  if (pb.k == 0) return "gemm: k must be positive";
  if (pb.a == nullptr || pb.packed == nullptr || pb.c == nullptr) return "gemm: null A, packed B or C";
  if (pb.a_stride < pb.k) return "gemm: A row stride smaller than k";
  if (pb.c_stride < pb.n) return "gemm: C row stride smaller than n";
  if (pb.residual != nullptr && pb.residual_stride < pb.n) return "gemm: residual row stride smaller than n";
  if (pb.residual != nullptr && pb.epilogue.output != GemmOutput::u8) return "gemm: a residual needs u8 output";
  if (cfg.gemm == nullptr) return "gemm: configuration without a GEMM micro-kernel";

  const size_t mr = cfg.mr, nr = cfg.nr;
  const size_t n_blocks = (pb.n + nr - 1) / nr;
  const size_t m_tiles = (pb.m + mr - 1) / mr;
  const size_t block_bytes = packed_gemm_block_bytes(cfg, 1, pb.k);
  const size_t out_bytes = gemm_detail::output_bytes(pb.epilogue.output);
  const size_t threads = runner ? static_cast<size_t>(std::max(1, runner->threads())) : 1;

  // Enough tasks for the pool to balance (4 per thread), column chunks first; rows are split
  // only when there are too few column blocks.
  const size_t want = threads == 1 ? 1 : 4 * threads;
  const size_t n_chunks = std::min(n_blocks, want);
  const size_t m_chunks = std::min(m_tiles, std::max<size_t>(1, want / n_chunks));
  const size_t blocks_per_chunk = (n_blocks + n_chunks - 1) / n_chunks;
  const size_t tiles_per_chunk = (m_tiles + m_chunks - 1) / m_chunks;

  const GemmProblem* p = &pb;
  parallel_for(runner, n_chunks * m_chunks, [&](size_t task) {
    const size_t nc0 = (task / m_chunks) * blocks_per_chunk;
    const size_t mc0 = (task % m_chunks) * tiles_per_chunk;
    const size_t nc1 = std::min(n_blocks, nc0 + blocks_per_chunk);
    const size_t mc1 = std::min(m_tiles, mc0 + tiles_per_chunk);
    for (size_t b = nc0; b < nc1; ++b) {
      const size_t j0 = b * nr;
      const size_t nc = std::min(nr, p->n - j0);
      const void* w = static_cast<const uint8_t*>(p->packed) + b * block_bytes;
      for (size_t t = mc0; t < mc1; ++t) {
        const size_t i0 = t * mr;
        const size_t rows = std::min(mr, p->m - i0);
        void* c = static_cast<uint8_t*>(p->c) + (i0 * p->c_stride + j0) * out_bytes;
        const uint8_t* r = p->residual ? p->residual + i0 * p->residual_stride + j0 : nullptr;
        cfg.gemm(rows, nc, p->k, p->a + i0 * p->a_stride, p->a_stride, w, c, p->c_stride, r, p->residual_stride,
                 &p->epilogue);
      }
    }
  });
  return "";
}

}  // namespace kiln::kernels
