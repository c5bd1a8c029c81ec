// Min-plus (tropical) relaxation for shortest paths on layered graphs.
//
// The positive graph of an MLP is layered: edges only join consecutive layers, and the
// edges between layer l and l+1 form a dense block of lengths (weight where weight > 0,
// +inf where there is no edge). Batched over (network, source) pairs, the distances are
// a matrix D[n] of shape (S sources, n_nodes), the nodes of one layer being a column
// range of D. Relaxing the edges of one block is a min-plus matrix product
//
//     C <- min(C, A (x) B),   (A (x) B)[s, j] = min_k A[s, k] + B[k, j]
//
// with A the source layer's columns of D, C the target layer's columns of D (a disjoint
// column range, so no aliasing), and B the block of lengths (forward sweep) or its
// transpose (backward sweep; the host passes a pre-transposed copy so both directions
// read B row-major and coalesced). The host sweeps forward and backward through the
// layers until no distance decreases (the `changed` flag stays 0).
//
// Exactness: only additions and minima are performed, each distance is the left-to-right
// sum of the edge lengths along some path from the source, so the fixed point equals
// Dijkstra's result bit for bit in the same precision, whatever the order of relaxations.
//
// Tiling (as a GEMM): a 16x16 thread block computes a 64x64 tile of C, each thread a 4x4
// micro-tile; A and B tiles of depth 16 are staged in shared memory. All sources of one
// network (blockIdx.z) share the same B, which the blocks of that network read from L2.

#define TILE_M 64      // sources per block tile
#define TILE_N 64      // target nodes per block tile
#define TILE_K 16      // depth of the staged A / B tiles
#define THREADS_X 16
#define THREADS_Y 16
#define MICRO 4        // TILE_M / THREADS_Y == TILE_N / THREADS_X

template <typename T> __device__ __forceinline__ T positive_infinity();
template <> __device__ __forceinline__ float positive_infinity<float>() { return __int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double positive_infinity<double>() {
    return __longlong_as_double(0x7ff0000000000000LL);
}

// dist:     (batch, n_sources, n_nodes) row-major, updated in place (columns c_offset .. c_offset+n_c).
// lengths:  (batch, n_k, n_c) row-major: lengths[b, k, j] = length of the edge from node
//           a_offset+k to node c_offset+j, +inf where there is no edge.
// changed:  set to 1 by any thread that lowers a distance (never reset here).
template <typename T>
__device__ __forceinline__ void minplus_relax_impl(T* __restrict__ dist, const T* __restrict__ lengths,
                                                   int* __restrict__ changed, int n_sources, int n_nodes,
                                                   int a_offset, int n_k, int c_offset, int n_c) {
    __shared__ T a_tile[TILE_K][TILE_M + 1];  // transposed: a_tile[k][source]; +1 avoids bank conflicts on store
    __shared__ T b_tile[TILE_K][TILE_N];

    const T inf = positive_infinity<T>();
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int tid = ty * THREADS_X + tx;
    const int row0 = blockIdx.y * TILE_M;  // first source of this tile
    const int col0 = blockIdx.x * TILE_N;  // first target node (within the layer) of this tile
    const long long batch = blockIdx.z;

    T* __restrict__ d = dist + batch * (long long)n_sources * n_nodes;
    const T* __restrict__ a = d + a_offset;                                 // row stride n_nodes
    const T* __restrict__ b = lengths + batch * (long long)n_k * n_c;      // row stride n_c

    T acc[MICRO][MICRO];
#pragma unroll
    for (int i = 0; i < MICRO; ++i)
#pragma unroll
        for (int j = 0; j < MICRO; ++j) acc[i][j] = inf;

    for (int k0 = 0; k0 < n_k; k0 += TILE_K) {
        // Stage A: TILE_M x TILE_K, 16 consecutive k per source row (coalesced along k).
#pragma unroll
        for (int r = 0; r < (TILE_M * TILE_K) / (THREADS_X * THREADS_Y); ++r) {
            const int e = tid + r * THREADS_X * THREADS_Y;
            const int m = e / TILE_K, k = e % TILE_K;
            const int gm = row0 + m, gk = k0 + k;
            a_tile[k][m] = (gm < n_sources && gk < n_k) ? a[(long long)gm * n_nodes + gk] : inf;
        }
        // Stage B: TILE_K x TILE_N, 64 consecutive targets per k row (coalesced along j).
#pragma unroll
        for (int r = 0; r < (TILE_K * TILE_N) / (THREADS_X * THREADS_Y); ++r) {
            const int e = tid + r * THREADS_X * THREADS_Y;
            const int k = e / TILE_N, n = e % TILE_N;
            const int gk = k0 + k, gn = col0 + n;
            b_tile[k][n] = (gk < n_k && gn < n_c) ? b[(long long)gk * n_c + gn] : inf;
        }
        __syncthreads();

#pragma unroll
        for (int k = 0; k < TILE_K; ++k) {
            T av[MICRO], bv[MICRO];
#pragma unroll
            for (int i = 0; i < MICRO; ++i) av[i] = a_tile[k][ty + i * THREADS_Y];
#pragma unroll
            for (int j = 0; j < MICRO; ++j) bv[j] = b_tile[k][tx + j * THREADS_X];
#pragma unroll
            for (int i = 0; i < MICRO; ++i)
#pragma unroll
                for (int j = 0; j < MICRO; ++j) acc[i][j] = fmin(acc[i][j], av[i] + bv[j]);
        }
        __syncthreads();
    }

    // Each element of C belongs to exactly one thread: read-compare-write without atomics.
    bool lowered = false;
#pragma unroll
    for (int i = 0; i < MICRO; ++i) {
        const int gm = row0 + ty + i * THREADS_Y;
        if (gm >= n_sources) continue;
#pragma unroll
        for (int j = 0; j < MICRO; ++j) {
            const int gn = col0 + tx + j * THREADS_X;
            if (gn >= n_c) continue;
            T* slot = d + (long long)gm * n_nodes + c_offset + gn;
            if (acc[i][j] < *slot) {
                *slot = acc[i][j];
                lowered = true;
            }
        }
    }
    if (lowered) *changed = 1;  // benign race: every writer writes 1
}

// Launch: block (16, 16, 1); grid (ceil(n_c / 64), ceil(n_sources / 64), batch).
extern "C" __global__ void __launch_bounds__(THREADS_X * THREADS_Y)
minplus_relax_f64(double* dist, const double* lengths, int* changed, int n_sources, int n_nodes, int a_offset,
                  int n_k, int c_offset, int n_c) {
    minplus_relax_impl<double>(dist, lengths, changed, n_sources, n_nodes, a_offset, n_k, c_offset, n_c);
}

extern "C" __global__ void __launch_bounds__(THREADS_X * THREADS_Y)
minplus_relax_f32(float* dist, const float* lengths, int* changed, int n_sources, int n_nodes, int a_offset,
                  int n_k, int c_offset, int n_c) {
    minplus_relax_impl<float>(dist, lengths, changed, n_sources, n_nodes, a_offset, n_k, c_offset, n_c);
}
