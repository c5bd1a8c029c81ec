// Condensed shortest paths between the hidden neurons of a batch of MLPs, and harmonic centrality.
//
// Inputs touch only hidden layer 1 and outputs only the last hidden layer, so every shortest path
// between hidden neurons is a chain of hidden-hidden synapses and hops a-x-b through one input or
// output x, of length w(x, a) + w(x, b). The host (engine/measures/shortest_paths.py) builds, per
// network, the dense matrix D (n x n, n = hidden neurons padded to a multiple of FW_BLOCK) of edge
// lengths between hidden neurons (inf: no edge, 0 on the diagonal), then:
//
//   1. condenses the leaves into D: D[L1, L1] = min(D[L1, L1], W1^T (x) W1), the same through the
//      outputs, with (A (x) B)[i, j] = min_k A[i, k] + B[k, j] the min-plus (tropical) product
//      (minplus_update);
//   2. closes D by blocked Floyd-Warshall: for each diagonal block K of FW_BLOCK nodes, the block
//      itself (fw_diag), its row and column panels (fw_panels), then every other entry by one
//      min-plus product of rank FW_BLOCK (minplus_update, rows and columns of K skipped);
//   3. sums, for every hidden source s, 1 / d(s, x) over the leaves, with d(s, x) the min-plus
//      product of D[s, L1] and W1^T (minplus_reciprocal): the (n x n_leaves) distance block is
//      never stored, only one partial sum per source and TILE_N-leaf tile.
//
// Exactness: only additions, minima and (in step 3) reciprocals and sums. Every min-plus entry is
// the minimum of exact float sums, whatever the order in which k is visited, so steps 1 and 2 give
// the same bits as the torch twin that runs the same phases. In fw_diag and fw_panels the entries
// read at step k (row k and column k of the block) do not change at that step (D[k, k] = 0), so
// the threads' order within a step cannot matter either. Step 3's sums are added in a fixed order
// (per thread, then in a fixed order over the THREADS_X threads of a row), equal to the twin's within rounding.
//
// Tiling of the min-plus products (as a GEMM): a THREADS_Y x THREADS_X thread block computes a
// TILE_M x TILE_N tile of C, each thread a MICRO x MICRO micro-tile; A and B tiles of depth TILE_K
// are staged in shared memory (the sizes the launchers use: 16x16 threads, 64x64 tiles, depth 16,
// 4x4 micro-tiles). A and B are row-major with leading dimensions lda and ldb (elements);
// blockIdx.z is the network.
//
// The tile sizes are defined once, in engine/measures/cuda_kernels.py (TILES), and come here as NVRTC
// -D options, so that the launchers' grids and these kernels cannot disagree; a compile without them
// stops here.
#if !defined(TILE_M) || !defined(TILE_N) || !defined(TILE_K) || !defined(THREADS_X) || !defined(THREADS_Y) \
    || !defined(FW_BLOCK)
#error "compile with the tile sizes as -D options: engine.measures.cuda_kernels.NVRTC_OPTIONS"
#endif
#define MICRO (TILE_M / THREADS_Y)  // rows and columns of a thread's micro-tile
static_assert(TILE_M % THREADS_Y == 0 && TILE_N % THREADS_X == 0 && TILE_M / THREADS_Y == TILE_N / THREADS_X,
              "square micro-tiles: TILE_M / THREADS_Y == TILE_N / THREADS_X");
static_assert((TILE_M * TILE_K) % (THREADS_X * THREADS_Y) == 0 && (TILE_K * TILE_N) % (THREADS_X * THREADS_Y) == 0,
              "every thread stages the same number of A and B entries");
static_assert(THREADS_X * THREADS_Y >= TILE_M, "one thread per row of a tile adds its partial sums");

template <typename T> __device__ __forceinline__ T positive_infinity();
template <> __device__ __forceinline__ float positive_infinity<float>() { return __int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double positive_infinity<double>() {
    return __longlong_as_double(0x7ff0000000000000LL);
}

// Stage the ROWS x COLS tile at (row0, col0) of a row-major (rows x cols) matrix with leading dimension ld
// into shared memory (row stride LD_SMEM; TRANSPOSED: stored as tile[col][row]), inf outside the matrix.
// Consecutive threads read consecutive columns (coalesced); every thread stages the same count.
template <typename T, int ROWS, int COLS, bool TRANSPOSED, int LD_SMEM>
__device__ __forceinline__ void stage_tile(T* tile, const T* __restrict__ mat, long long ld, int rows, int cols,
                                           int row0, int col0, int tid, T inf) {
#pragma unroll
    for (int r = 0; r < (ROWS * COLS) / (THREADS_X * THREADS_Y); ++r) {
        const int e = tid + r * THREADS_X * THREADS_Y;
        const int i = e / COLS, j = e % COLS;
        const int gi = row0 + i, gj = col0 + j;
        const T v = (gi < rows && gj < cols) ? mat[(long long)gi * ld + gj] : inf;
        tile[TRANSPOSED ? j * LD_SMEM + i : i * LD_SMEM + j] = v;
    }
}

// acc[i][j] = min over k of A[row0 + ty + THREADS_Y i, k] + B[k, col0 + tx + THREADS_X j] (inf outside).
template <typename T>
__device__ __forceinline__ void minplus_tile(const T* __restrict__ a, long long lda, const T* __restrict__ b,
                                             long long ldb, int m, int n, int k_len, int row0, int col0,
                                             T acc[MICRO][MICRO]) {
    __shared__ T a_tile[TILE_K][TILE_M + 1];  // transposed: a_tile[k][row]; +1 avoids bank conflicts on store
    __shared__ T b_tile[TILE_K][TILE_N];

    const T inf = positive_infinity<T>();
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int tid = ty * THREADS_X + tx;
#pragma unroll
    for (int i = 0; i < MICRO; ++i)
#pragma unroll
        for (int j = 0; j < MICRO; ++j) acc[i][j] = inf;

    for (int k0 = 0; k0 < k_len; k0 += TILE_K) {
        // A: TILE_M x TILE_K, coalesced along k, stored transposed; B: TILE_K x TILE_N, coalesced along the columns.
        stage_tile<T, TILE_M, TILE_K, true, TILE_M + 1>(&a_tile[0][0], a, lda, m, k_len, row0, k0, tid, inf);
        stage_tile<T, TILE_K, TILE_N, false, TILE_N>(&b_tile[0][0], b, ldb, k_len, n, k0, col0, tid, inf);
        __syncthreads();

#pragma unroll
        for (int kk = 0; kk < TILE_K; ++kk) {
            T av[MICRO], bv[MICRO];
#pragma unroll
            for (int i = 0; i < MICRO; ++i) av[i] = a_tile[kk][ty + i * THREADS_Y];
#pragma unroll
            for (int j = 0; j < MICRO; ++j) bv[j] = b_tile[kk][tx + j * THREADS_X];
#pragma unroll
            for (int i = 0; i < MICRO; ++i)
#pragma unroll
                for (int j = 0; j < MICRO; ++j) acc[i][j] = fmin(acc[i][j], av[i] + bv[j]);
        }
        __syncthreads();
    }
}

// C = min(C, A (x) B) on an (m x n) C with leading dimension ldc, except the rows and the columns
// in [skip0, skip1), which stay as they are (empty range: skip0 == skip1). Each element of C
// belongs to one thread, and A and B never overlap the elements written: no races.
template <typename T>
__device__ __forceinline__ void minplus_update_impl(T* __restrict__ c, long long ldc, long long c_batch,
                                                    const T* __restrict__ a, long long lda, long long a_batch,
                                                    const T* __restrict__ b, long long ldb, long long b_batch,
                                                    int m, int n, int k_len, int skip0, int skip1) {
    const long long z = blockIdx.z;
    const int row0 = blockIdx.y * TILE_M, col0 = blockIdx.x * TILE_N;
    T acc[MICRO][MICRO];
    minplus_tile<T>(a + z * a_batch, lda, b + z * b_batch, ldb, m, n, k_len, row0, col0, acc);
    T* __restrict__ cz = c + z * c_batch;
#pragma unroll
    for (int i = 0; i < MICRO; ++i) {
        const int gm = row0 + threadIdx.y + i * THREADS_Y;
        if (gm >= m || (gm >= skip0 && gm < skip1)) continue;
#pragma unroll
        for (int j = 0; j < MICRO; ++j) {
            const int gn = col0 + threadIdx.x + j * THREADS_X;
            if (gn >= n || (gn >= skip0 && gn < skip1)) continue;
            T* slot = cz + (long long)gm * ldc + gn;
            if (acc[i][j] < *slot) *slot = acc[i][j];
        }
    }
}

// partial[z, i, blockIdx.x] = sum over the columns j of this tile of 1 / (A (x) B)[i, j], where
// that distance is finite and > 0 (unreachable: 0). partial is (batch, m, gridDim.x), contiguous.
template <typename T>
__device__ __forceinline__ void minplus_reciprocal_impl(T* __restrict__ partial, const T* __restrict__ a,
                                                        long long lda, long long a_batch,
                                                        const T* __restrict__ b, long long ldb,
                                                        long long b_batch, int m, int n, int k_len) {
    __shared__ T row_sums[TILE_M][THREADS_X + 1];
    const long long z = blockIdx.z;
    const int row0 = blockIdx.y * TILE_M, col0 = blockIdx.x * TILE_N;
    const int tx = threadIdx.x, ty = threadIdx.y;
    const T inf = positive_infinity<T>();
    T acc[MICRO][MICRO];
    minplus_tile<T>(a + z * a_batch, lda, b + z * b_batch, ldb, m, n, k_len, row0, col0, acc);
#pragma unroll
    for (int i = 0; i < MICRO; ++i) {
        T s = 0;
#pragma unroll
        for (int j = 0; j < MICRO; ++j) {
            const int gn = col0 + tx + j * THREADS_X;
            const T d = acc[i][j];
            if (gn < n && d > 0 && d < inf) s += T(1) / d;
        }
        row_sums[ty + i * THREADS_Y][tx] = s;
    }
    __syncthreads();
    // One thread per row of the tile adds its THREADS_X partial sums in a fixed order.
    const int tid = ty * THREADS_X + tx;
    if (tid < TILE_M) {
        const int gm = row0 + tid;
        if (gm < m) {
            T s = 0;
#pragma unroll
            for (int t = 0; t < THREADS_X; ++t) s += row_sums[tid][t];
            partial[(z * m + gm) * gridDim.x + blockIdx.x] = s;
        }
    }
}

// Floyd-Warshall on the diagonal block [k0, k0 + FW_BLOCK) of each network's D (n x n, n a multiple of FW_BLOCK).
template <typename T>
__device__ __forceinline__ void fw_diag_impl(T* __restrict__ d, int n, long long d_batch, int k0) {
    __shared__ T blk[FW_BLOCK][FW_BLOCK + 1];
    T* __restrict__ dz = d + blockIdx.z * d_batch;
    const int i = threadIdx.y, j = threadIdx.x;
    blk[i][j] = dz[(long long)(k0 + i) * n + k0 + j];
    __syncthreads();
    for (int k = 0; k < FW_BLOCK; ++k) {
        const T v = blk[i][k] + blk[k][j];  // row k and column k do not change at step k
        if (v < blk[i][j]) blk[i][j] = v;
        __syncthreads();
    }
    dz[(long long)(k0 + i) * n + k0 + j] = blk[i][j];
}

// The row panel (blockIdx.y == 0: rows K, columns of tile blockIdx.x) or column panel (== 1: rows of
// tile blockIdx.x, columns K) of block K = [k0, k0 + FW_BLOCK), relaxed through the closed diagonal block
// one k at a time. The tile of K itself is skipped.
template <typename T>
__device__ __forceinline__ void fw_panels_impl(T* __restrict__ d, int n, long long d_batch, int k0) {
    __shared__ T diag[FW_BLOCK][FW_BLOCK + 1];
    __shared__ T tile[FW_BLOCK][FW_BLOCK + 1];
    const int t0 = blockIdx.x * FW_BLOCK;
    if (t0 == k0) return;
    T* __restrict__ dz = d + blockIdx.z * d_batch;
    const bool row_panel = blockIdx.y == 0;
    const int i = threadIdx.y, j = threadIdx.x;
    const int r0 = row_panel ? k0 : t0, c0 = row_panel ? t0 : k0;
    diag[i][j] = dz[(long long)(k0 + i) * n + k0 + j];
    tile[i][j] = dz[(long long)(r0 + i) * n + c0 + j];
    __syncthreads();
    for (int k = 0; k < FW_BLOCK; ++k) {
        // Row panel: tile row k is unchanged at step k (diag[k][k] = 0); column panel: tile column k.
        const T v = row_panel ? diag[i][k] + tile[k][j] : tile[i][k] + diag[k][j];
        if (v < tile[i][j]) tile[i][j] = v;
        __syncthreads();
    }
    dz[(long long)(r0 + i) * n + c0 + j] = tile[i][j];
}

// Launches: minplus_update / minplus_reciprocal: block (THREADS_X, THREADS_Y, 1), grid (ceil(n / TILE_N),
// ceil(m / TILE_M), batch); fw_diag: block (FW_BLOCK, FW_BLOCK, 1), grid (1, 1, batch); fw_panels: block
// (FW_BLOCK, FW_BLOCK, 1), grid (n / FW_BLOCK, 2, batch).
#define MINPLUS_UPDATE(NAME, T)                                                                              \
    extern "C" __global__ void __launch_bounds__(THREADS_X * THREADS_Y)                                      \
    NAME(T* c, long long ldc, long long c_batch, const T* a, long long lda, long long a_batch, const T* b,     \
         long long ldb, long long b_batch, int m, int n, int k_len, int skip0, int skip1) {                  \
        minplus_update_impl<T>(c, ldc, c_batch, a, lda, a_batch, b, ldb, b_batch, m, n, k_len, skip0, skip1); \
    }
#define MINPLUS_RECIPROCAL(NAME, T)                                                                          \
    extern "C" __global__ void __launch_bounds__(THREADS_X * THREADS_Y)                                      \
    NAME(T* partial, const T* a, long long lda, long long a_batch, const T* b, long long ldb, long long b_batch, \
         int m, int n, int k_len) {                                                                          \
        minplus_reciprocal_impl<T>(partial, a, lda, a_batch, b, ldb, b_batch, m, n, k_len);                  \
    }
#define FW_DIAG(NAME, T)                                                                                     \
    extern "C" __global__ void __launch_bounds__(FW_BLOCK * FW_BLOCK)                                        \
    NAME(T* d, int n, long long d_batch, int k0) { fw_diag_impl<T>(d, n, d_batch, k0); }
#define FW_PANELS(NAME, T)                                                                                   \
    extern "C" __global__ void __launch_bounds__(FW_BLOCK * FW_BLOCK)                                        \
    NAME(T* d, int n, long long d_batch, int k0) { fw_panels_impl<T>(d, n, d_batch, k0); }

MINPLUS_UPDATE(minplus_update_f64, double)
MINPLUS_UPDATE(minplus_update_f32, float)
MINPLUS_RECIPROCAL(minplus_reciprocal_f64, double)
MINPLUS_RECIPROCAL(minplus_reciprocal_f32, float)
FW_DIAG(fw_diag_f64, double)
FW_DIAG(fw_diag_f32, float)
FW_PANELS(fw_panels_f64, double)
FW_PANELS(fw_panels_f32, float)
