# The GPU stack and the workload: which JetPack the array runs, what each JetPack means
# (L4T release, CUDA, cuDNN, Python, TensorFlow) and the install package manifest.
# Topology (which nodes have a GPU, where the install package lives) comes from the node
# table: gpu_stack:enabled, gpu_stack:package_mount and gpu_stack:package_dir are derived by
# jetson_array/nodetable.py, never written here. Formula defaults: formulas/gpu_stack/defaults.yaml.
#
# Manifest: one entry per file of the install package, path relative to gpu_stack:package_dir;
# it is the JetPack's `artifacts` + the debs of its Python source + the shared `wheelhouse`.
# No YAML anchors here: Salt merges pillar in place, an aliased mapping would be shared.
# `role` says what the states do with a file; `package` is the Debian package a deb installs;
# `requirement` is the pip pin a wheel satisfies (wheels without one are dependencies that
# pip picks from the wheelhouse). `site_build: <anchor>` marks a file nobody publishes: you
# build it yourself, recipe in docs/gpu-stack.md#<anchor>; the install gate says so when it is
# missing or unrecorded.
# `sha256: null` means NOBODY HAS RECORDED THE REAL FILE'S HASH YET: the states refuse to
# install until it is recorded (docs/gpu-stack.md, "Recording the manifest"). Never type a
# hash from memory: `salt astro<N> install_package.record` hashes the files on the share.

gpu_stack:
  jetpack: '3.1'              # must match /etc/nv_tegra_release (grain tegra) on GPU nodes
  # TX2 power modes (NVIDIA L4T Development Guide, "Supported Modes and Power Efficiency"):
  # 0 MAXN, 1 MAXQ, 2 MAXP_CORE_ALL, 3 MAXP_CORE_ARM, 4 MAXP_CORE_DENVER. The array runs mode 2,
  # MAXP_CORE_ALL, as the old installer did (`nvpmodel -m 2`): all six CPU cores (2 Denver +
  # 4 A57, 1.4 GHz) stay on for DiagnoseNET's data loading and MPI ranks, the GPU at 1.12 GHz,
  # inside the 15 W Max-P budget of 24 boards in one rack. Mode 3 (MAXP_CORE_ARM) would switch
  # the Denver cores off; MAXN (0) trades the power budget for 16% more GPU clock.
  nvpmodel_mode: 2
  # Bounds of the acceptance suite's GPU job (validation/test_gpu.py, jobs/gpu_matmul.py). Its
  # GFLOP/s floor is a reference like every fingerprint figure's: pillar/acceptance.sls
  # (acceptance:references:gpu_gflops).
  acceptance:
    matmul_size: 2048
    repeat: 10
    max_error: 1.0e-4         # |tf - numpy| / max|numpy|
    # false where no Tegra GPU can run TensorFlow (e.g. the lab's arm64 nodes under qemu-user):
    # the fingerprint phase runs no GPU job there and the checks of that job skip, naming this
    # key; the other GPU checks still run. Only false turns it off (validation/pillars.py switch).
    run_job: true

  # pip and the workload's pinned wheels (cp36, aarch64): the same for every JetPack below.
  # Installed offline (pip --no-index) into the workload's virtualenv. Build recipe and the
  # dependency wheels pip also needs: docs/gpu-stack.md, "The wheelhouse".
  wheelhouse:
    # pip's last release for Python 3.6; hash of the file published on PyPI.
    - file: wheelhouse/pip-21.3.1-py3-none-any.whl
      role: pip-wheel
      requirement: pip==21.3.1
      sha256: deaf32dcd9ab821e359cd8330786bcd077604b5c5730c0b096eda46f95c24a2d
    # DiagnoseNET's pins (its requirements); never numpy 1.19.5 on a Jetson (Illegal instruction).
    # No cp36 aarch64 wheels of these versions are on PyPI: built into the wheelhouse
    # (site_build: site-build-the-wheelhouse), then recorded.
    - file: wheelhouse/numpy-1.15.4-cp36-cp36m-linux_aarch64.whl
      role: wheel
      requirement: numpy==1.15.4
      sha256: null
      site_build: site-build-the-wheelhouse
    - file: wheelhouse/scipy-1.1.0-cp36-cp36m-linux_aarch64.whl
      role: wheel
      requirement: scipy==1.1.0
      sha256: null
      site_build: site-build-the-wheelhouse
    - file: wheelhouse/pandas-0.23.4-cp36-cp36m-linux_aarch64.whl
      role: wheel
      requirement: pandas==0.23.4
      sha256: null
      site_build: site-build-the-wheelhouse
    - file: wheelhouse/scikit_learn-0.20.1-cp36-cp36m-linux_aarch64.whl
      role: wheel
      requirement: scikit-learn==0.20.1
      sha256: null
      site_build: site-build-the-wheelhouse
    - file: wheelhouse/psutil-5.6.3-cp36-cp36m-linux_aarch64.whl
      role: wheel
      requirement: psutil==5.6.3
      sha256: null
      site_build: site-build-the-wheelhouse
    # Pure-Python wheel; hash of the file published on PyPI.
    - file: wheelhouse/Keras-2.1.3-py2.py3-none-any.whl
      role: wheel
      requirement: keras==2.1.3
      sha256: 7b1116bad7fb497758cfaffcd180e9adc2904be7deec2d9164543955e9973d0b
    # mpi4py is unpinned upstream; 3.0.3 is the 2019 release, built against the node's Open MPI.
    - file: wheelhouse/mpi4py-3.0.3-cp36-cp36m-linux_aarch64.whl
      role: wheel
      requirement: mpi4py==3.0.3
      sha256: null
      site_build: site-build-the-wheelhouse

  # Where a JetPack's Python 3.6 comes from (the 2019 PPAs are gone), by name.
  # debs: files of the install package; apt: `packages` from apt, with an optional `repo`
  # line and `key_url` (an apt repository you maintain).
  python_sources:
    xenial-debs:
      kind: debs
      # SITE BUILD: deadsnakes never published Python 3.6.15 for xenial arm64 (its xenial
      # builds stopped before 3.6.15, and the PPA is gone). Build it from the deadsnakes
      # packaging (docs/gpu-stack.md#site-build-python-36-debs-for-xenial-arm64) and rename the
      # entries to what your build produced.
      debs:
        - file: python3.6/libpython3.6-minimal_3.6.15-1+xenial1_arm64.deb
          role: python-deb
          package: libpython3.6-minimal
          sha256: null
          site_build: site-build-python-36-debs-for-xenial-arm64
        - file: python3.6/python3.6-minimal_3.6.15-1+xenial1_arm64.deb
          role: python-deb
          package: python3.6-minimal
          sha256: null
          site_build: site-build-python-36-debs-for-xenial-arm64
        - file: python3.6/libpython3.6-stdlib_3.6.15-1+xenial1_arm64.deb
          role: python-deb
          package: libpython3.6-stdlib
          sha256: null
          site_build: site-build-python-36-debs-for-xenial-arm64
        - file: python3.6/python3.6_3.6.15-1+xenial1_arm64.deb
          role: python-deb
          package: python3.6
          sha256: null
          site_build: site-build-python-36-debs-for-xenial-arm64
    bionic-apt:                   # 18.04's own Python 3.6.9
      kind: apt
      packages: [python3.6]

  jetpacks:
    '3.1':
      l4t: {release: R28, revision: '1.0'}        # L4T R28.1
      ubuntu: '16.04'
      cuda:
        version: '8.0'
        toolkit_package: cuda-toolkit-8-0
        home: /usr/local/cuda-8.0
        repo_dir: /var/cuda-repo-8-0-local        # the local apt repo the repo deb unpacks
        repo_key: /var/cuda-repo-8-0-local/7fa2af80.pub
      cudnn: {version: '6.0.21'}
      python: {version: '3.6', interpreter: python3.6, source: xenial-debs}
      # SITE BUILD: no public TensorFlow 1.3 wheel for Python 3.6 on the TX2 exists (the public
      # JetPack 3.1 builds are for Python 2.7 and 3.5): build it
      # (docs/gpu-stack.md#site-build-tensorflow-wheels-for-python-36) and name your file here.
      tensorflow: {version: 1.3.0}
      artifacts:
        - file: cuda-repo-l4t-8-0-local_8.0.84-1_arm64.deb
          role: cuda-repo
          package: cuda-repo-l4t-8-0-local
          sha256: null
        - file: libcudnn6_6.0.21-1+cuda8.0_arm64.deb
          role: cudnn
          package: libcudnn6
          sha256: null
        - file: libcudnn6-dev_6.0.21-1+cuda8.0_arm64.deb
          role: cudnn
          package: libcudnn6-dev
          sha256: null
        - file: tensorflow-1.3.0-cp36-cp36m-linux_aarch64.whl
          role: tensorflow-wheel
          requirement: tensorflow==1.3.0
          sha256: null
          site_build: site-build-tensorflow-wheels-for-python-36

    '3.3':
      l4t: {release: R28, revision: '2.1'}        # L4T R28.2.1
      ubuntu: '16.04'
      cuda:
        version: '9.0'
        toolkit_package: cuda-toolkit-9-0
        home: /usr/local/cuda-9.0
        repo_dir: /var/cuda-repo-9-0-local
        repo_key: /var/cuda-repo-9-0-local/7fa2af80.pub
      cudnn: {version: '7.1.5.14'}
      python: {version: '3.6', interpreter: python3.6, source: xenial-debs}
      # SITE BUILD: NVIDIA published no cp36 TensorFlow wheel for JetPack 3.3
      # (docs/gpu-stack.md#site-build-tensorflow-wheels-for-python-36): name your file here.
      tensorflow: {version: 1.9.0}
      artifacts:
        - file: cuda-repo-l4t-9-0-local_9.0.252-1_arm64.deb
          role: cuda-repo
          package: cuda-repo-l4t-9-0-local
          sha256: null
        - file: libcudnn7_7.1.5.14-1+cuda9.0_arm64.deb
          role: cudnn
          package: libcudnn7
          sha256: null
        - file: libcudnn7-dev_7.1.5.14-1+cuda9.0_arm64.deb
          role: cudnn
          package: libcudnn7-dev
          sha256: null
        - file: tensorflow-1.9.0-cp36-cp36m-linux_aarch64.whl
          role: tensorflow-wheel
          requirement: tensorflow==1.9.0
          sha256: null
          site_build: site-build-tensorflow-wheels-for-python-36

    '4.2':
      l4t: {release: R32, revision: '1.0'}        # L4T R32.1, Ubuntu 18.04
      ubuntu: '18.04'
      cuda:
        version: '10.0'
        toolkit_package: cuda-toolkit-10-0
        home: /usr/local/cuda-10.0
        repo_dir: /var/cuda-repo-10-0-local-10.0.166
        repo_key: /var/cuda-repo-10-0-local-10.0.166/7fa2af80.pub
      cudnn: {version: '7.3.1.28'}
      python: {version: '3.6', interpreter: python3.6, source: bionic-apt}
      tensorflow: {version: 1.13.1+nv19.3}        # NVIDIA's wheel for JetPack 4.2
      artifacts:
        - file: cuda-repo-l4t-10-0-local-10.0.166_1.0-1_arm64.deb
          role: cuda-repo
          package: cuda-repo-l4t-10-0-local-10.0.166
          sha256: null
        - file: libcudnn7_7.3.1.28-1+cuda10.0_arm64.deb
          role: cudnn
          package: libcudnn7
          sha256: null
        - file: libcudnn7-dev_7.3.1.28-1+cuda10.0_arm64.deb
          role: cudnn
          package: libcudnn7-dev
          sha256: null
        - file: tensorflow_gpu-1.13.1+nv19.3-cp36-cp36m-linux_aarch64.whl
          role: tensorflow-wheel
          requirement: tensorflow-gpu==1.13.1+nv19.3
          sha256: null

diagnosenet:
  # The workload, pinned: master of 2019-11-11, whose enerGyPU submodule (e77cb9ae) holds
  # dataCapture/enerGyPU_record-jetson.sh and dataCapture/tegrastats.
  source: https://github.com/IADBproject/diagnosenet.git
  revision: 0952609dcfdd5691c6ec8fa3edc4dce7b31cf742
