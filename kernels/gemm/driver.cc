// gemm_run: tiles C into (column chunk, row chunk) tasks over the TaskRunner (row chunks only when
// the packed B is small, see kRowSplitMaxBBytes). Inside a task the
// column blocks are the outer loop, so one packed block (kc * nr bytes: 64 KiB for K = 4096,
// nr = 16) stays in L1/L2 while every row tile of the chunk streams past it.
// Configs with a packed-A path (AVX2 int8) first transform the rows of A once (into a per-thread
// scratch buffer reused across calls, at most kMaxPanelBytes: larger M runs in row chunks), so the
// micro-kernel does not redo that work for every column block. Configs with a widened-B path also
// widen each column block once per task when the task has several row tiles to share it.
#include <algorithm>
#include <new>

#include "gemm/epilogue_scalar.h"
#include "gemm/wide_scratch.h"
#include "kiln/kernels/gemm.h"
#include "kiln/kernels/pack.h"

namespace kiln::kernels {
namespace {

constexpr size_t kMaxPanelBytes = size_t{4} << 20;
// Below this many A bytes the packing pass runs on the calling thread (a pool round trip costs more).
constexpr size_t kParallelPackBytes = size_t{1} << 18;
constexpr size_t kSmallGemmMacs = size_t{8} << 20;
// Up to this much packed B, tasks split the rows and each runs every column block: B stays in cache
// for all of them, and no two threads write the same output row. Split by columns, a narrow C (1x1
// convolutions with 144 output channels: 4.5 blocks of 32 bytes in a 144-byte row) had two threads
// writing halves of the same cache lines, and ran 2.5x slower on two threads than on one.
constexpr size_t kRowSplitMaxBBytes = size_t{256} << 10;

// The calling thread's packed-A scratch (grown, never shrunk; pool threads only read it while
// the call that filled it waits for them).
uint8_t* a_panel_scratch(size_t bytes) {
  thread_local AlignedBuffer buffer;
  if (buffer.size() < bytes) buffer = AlignedBuffer(bytes);
  return static_cast<uint8_t*>(buffer.data());
}

}  // namespace

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
  const size_t block_bytes = packed_gemm_block_bytes(cfg, 1, pb.k);
  const size_t out_bytes = gemm_detail::output_bytes(pb.epilogue.output);
  const size_t threads = runner ? static_cast<size_t>(std::max(1, runner->threads())) : 1;
  const bool packed_a = cfg.pack_a_row != nullptr && cfg.gemm_packed_a != nullptr;
  const size_t a_row_bytes = packed_a ? packed_a_row_bytes(cfg, pb.k) : 0;
  const bool wide_b = cfg.gemm_wide != nullptr && cfg.widen_block != nullptr && cfg.wide_block_bytes != nullptr;
  const size_t wide_bytes = wide_b ? cfg.wide_block_bytes(pb.k) : 0;
  const size_t chunk_rows =
      packed_a ? std::min(pb.m, std::max<size_t>(1, kMaxPanelBytes / a_row_bytes / mr) * mr) : pb.m;
  uint8_t* panel = nullptr;
  if (packed_a) {
    try {
      panel = a_panel_scratch(chunk_rows * a_row_bytes);
    } catch (const std::bad_alloc&) {
      return "gemm: out of memory for the packed A rows";
    }
  }

  const GemmProblem* p = &pb;
  for (size_t m0 = 0; m0 < pb.m; m0 += chunk_rows) {
    const size_t rows_here = std::min(chunk_rows, pb.m - m0);
    const size_t m_tiles = (rows_here + mr - 1) / mr;
    if (packed_a) {
      const size_t pack_tasks = rows_here * pb.k >= kParallelPackBytes ? std::min(threads, m_tiles) : 1;
      const size_t tiles_per_task = (m_tiles + pack_tasks - 1) / pack_tasks;
      parallel_for(runner, pack_tasks, [&](size_t task) {
        const size_t i1 = std::min(rows_here, (task + 1) * tiles_per_task * mr);
        for (size_t i = task * tiles_per_task * mr; i < i1; ++i) {
          cfg.pack_a_row(p->k, p->a + (m0 + i) * p->a_stride, panel + i * a_row_bytes);
        }
      });
    }

    // Enough tasks for the pool to balance (4 per thread), column chunks first; rows are split
    // only when there are too few column blocks. Small GEMMs (a GEMV of a few MMACs runs in tens
    // of microseconds) get one task per thread: each extra task costs a pool hand-off.
    const bool small = rows_here * pb.n * pb.k < kSmallGemmMacs;
    const size_t want = threads == 1 ? 1 : (small ? threads : 4 * threads);
    const bool rows_first = m_tiles >= want && n_blocks * block_bytes <= kRowSplitMaxBBytes;
    const size_t n_chunks = rows_first ? 1 : std::min(n_blocks, want);
    // Row chunks widen every block of B each (widened-B configs): one chunk per thread then.
    const size_t row_want = rows_first && wide_b ? threads : want;
    const size_t m_chunks = std::min(m_tiles, std::max<size_t>(1, row_want / n_chunks));
    const size_t blocks_per_chunk = (n_blocks + n_chunks - 1) / n_chunks;
    const size_t tiles_per_chunk = (m_tiles + m_chunks - 1) / m_chunks;
    parallel_for(runner, n_chunks * m_chunks, [&](size_t task) {
      const size_t nc0 = (task / m_chunks) * blocks_per_chunk;
      const size_t mc0 = (task % m_chunks) * tiles_per_chunk;
      const size_t nc1 = std::min(n_blocks, nc0 + blocks_per_chunk);
      const size_t mc1 = std::min(m_tiles, mc0 + tiles_per_chunk);
      uint8_t* wide = wide_b && mc1 - mc0 >= 2 ? wide_block_scratch(wide_bytes) : nullptr;
      for (size_t b = nc0; b < nc1; ++b) {
        const size_t j0 = b * nr;
        const size_t nc = std::min(nr, p->n - j0);
        const void* w = static_cast<const uint8_t*>(p->packed) + b * block_bytes;
        if (wide) cfg.widen_block(p->k, w, wide);
        for (size_t t = mc0; t < mc1; ++t) {
          const size_t i0 = m0 + t * mr;
          const size_t rows = std::min(mr, rows_here - t * mr);
          void* c = static_cast<uint8_t*>(p->c) + (i0 * p->c_stride + j0) * out_bytes;
          const uint8_t* r = p->residual ? p->residual + i0 * p->residual_stride + j0 : nullptr;
          if (wide && packed_a) {
            cfg.gemm_wide(rows, nc, p->k, panel + t * mr * a_row_bytes, a_row_bytes, w, wide, c, p->c_stride, r,
                          p->residual_stride, &p->epilogue);
          } else if (wide) {
            cfg.gemm_wide(rows, nc, p->k, p->a + i0 * p->a_stride, p->a_stride, w, wide, c, p->c_stride, r,
                          p->residual_stride, &p->epilogue);
          } else if (packed_a) {
            cfg.gemm_packed_a(rows, nc, p->k, panel + t * mr * a_row_bytes, a_row_bytes, w, c, p->c_stride, r,
                              p->residual_stride, &p->epilogue);
          } else {
            cfg.gemm(rows, nc, p->k, p->a + i0 * p->a_stride, p->a_stride, w, c, p->c_stride, r, p->residual_stride,
                     &p->epilogue);
          }
        }
      }
    });
  }
  return "";
}

}  // namespace kiln::kernels
