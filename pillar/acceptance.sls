# The acceptance gate's references (validation/verdicts.py, validation/tegrastats.py): what the
# suite's fingerprint figures are judged against. Per-site overrides go in the site pillar;
# the lab's in lab/files/pillar/. Figure names and units: validation/verdicts.py (UNITS).
acceptance:
  # K: drift compares a node's figure with the median of its own last K runs (history database).
  history_runs: 5
  # ReFrame-style references per figure name: a fixed bound (`floor`: fail below it; `ceiling`:
  # fail above it) and relative tolerances whose sign is the direction: `drift` against the
  # node's own median of the last K runs, `outlier` against this run's median over the nodes
  # of the node's machine type (uname -m; >= 3 such nodes). -0.15 flags a value more than 15%
  # below the median, 0.50 one more than 50% above.
  # gpu_gflops' floor is the GPU job's GFLOP/s bound: in mode 2 the TX2 GPU runs at 1.12 GHz,
  # 256 cores x 2 x 1.12 GHz = 573 GFLOP/s fp32 peak; 200 is about a third of it, far above any
  # CPU fallback (pillar/gpu.sls names the mode).
  references:
    cpu_mops: {floor: 1.0, drift: -0.15, outlier: -0.20}
    gpu_gflops: {floor: 200, drift: -0.15, outlier: -0.20}
    nfs_write_mbs: {floor: 5, drift: -0.30, outlier: -0.40}
    nfs_read_mbs: {floor: 5, drift: -0.30, outlier: -0.40}
    mpi_latency_us: {ceiling: 2000, drift: 0.50, outlier: 1.00}
    mpi_bw_mbs: {floor: 5, drift: -0.30, outlier: -0.40}
    gpu_gflops_per_w: {floor: 20, drift: -0.15, outlier: -0.20}
  # Verdict kinds that fail a node's check; the other kinds (drift) only warn.
  failures: [floor, ceiling, outlier]
  # No thermal zone may go above this during the GPU job (tegrastats; the PMIC pseudo zone aside).
  thermal_limit_c: 85
  # nvpmodel mode -> the GR3D (GPU) clock in MHz, as tegrastats prints it, that the GPU must reach
  # under load. Source: NVIDIA's Jetson TX2 power-mode table (L4T Development Guide, "Supported
  # Modes and Power Efficiency"; pillar/gpu.sls names the modes): GPU max 1.30 GHz in mode 0
  # MAXN, 0.85 GHz in mode 1 MAXQ, 1.12 GHz in modes 2 MAXP_CORE_ALL, 3 MAXP_CORE_ARM and
  # 4 MAXP_CORE_DENVER.
  gpu_clock_mhz: {0: 1300, 1: 854, 2: 1122, 3: 1122, 4: 1122}
