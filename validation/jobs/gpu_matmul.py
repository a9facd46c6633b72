"""GPU acceptance job: a TensorFlow matmul on the GPU, checked against numpy, with GFLOP/s.

Copied to a node by the acceptance suite and run as the cluster user under the node's
Python 3.6 (TensorFlow 1.3 on JetPack 3.1). Python 3.6 syntax only (checked by vermin).
TF 1.x API (tf.Session, tf.random_normal, tf.device); on TF 2.x the same graph runs
through tf.compat.v1. allow_soft_placement=False: without a GPU the job fails instead of
falling back to the CPU, and the device the MatMul really ran on is read from the run
trace. Prints one JSON line; exit status 0 only when every check passed.

    python3.6 gpu_matmul.py [--size 2048] [--repeat 10] [--max-error 1e-4] [--device gpu]

``--device cpu`` exists only to test this script on machines without a GPU.
"""
import argparse
import json
import sys
import time


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["gpu", "cpu"], default="gpu",
                        help="where the matmul must run (cpu: only to test this script)")
    parser.add_argument("--size", type=int, default=2048, help="matrix side n (n x n float32)")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs after one warm-up")
    parser.add_argument("--max-error", type=float, default=1e-4,
                        help="largest allowed |tf - numpy| / max|numpy|")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def tf_v1():
    """The TF 1.x API: tensorflow itself on 1.x, tf.compat.v1 in graph mode on 2.x."""
    import tensorflow as tf

    version = tf.__version__
    compat = getattr(getattr(tf, "compat", None), "v1", None)
    if int(version.split(".")[0]) >= 2 and compat is not None:
        compat.disable_eager_execution()
        return compat, version
    return tf, version


def local_devices(device_type):
    from tensorflow.python.client import device_lib

    return [d.name for d in device_lib.list_local_devices() if d.device_type == device_type]


def build(tf, device, size, seed):
    """Two random n x n float32 variables on ``device`` and their product."""
    with tf.device(device):
        a = tf.Variable(tf.random_normal([size, size], seed=seed), name="a")
        b = tf.Variable(tf.random_normal([size, size], seed=seed + 1), name="b")
        product = tf.matmul(a, b, name="product")
    return a, b, product


def placed_on(tf, session, op, device_type):
    """Devices the op really ran on, from a software trace of one run (no CUPTI needed)."""
    options = tf.RunOptions(trace_level=tf.RunOptions.SOFTWARE_TRACE)
    metadata = tf.RunMetadata()
    session.run(op, options=options, run_metadata=metadata)
    devices = set()
    for stats in metadata.step_stats.dev_stats:
        if "/stream:" in stats.device or "/memcpy" in stats.device:
            continue  # GPU stream/copy timelines repeat the op: keep the compute device
        for node in stats.node_stats:
            if node.node_name == op.name:
                devices.add(stats.device)
    return sorted(devices), any(device_type in d.upper().split("/")[-1] for d in devices)


def timed(session, op, repeat):
    session.run(op)  # warm-up: kernels, allocations
    start = time.time()
    for _ in range(repeat):
        session.run(op)
    return time.time() - start


def run(args):
    import numpy as np

    tf, version = tf_v1()
    device_type = args.device.upper()
    result = {"device": None, "size": args.size, "max_error": None, "gflops": None,
              "tf_version": version, "numpy_version": np.__version__, "ok": False}
    visible = local_devices(device_type)
    if not visible:
        result["error"] = "no {} visible to TensorFlow {}".format(device_type, version)
        return result
    a, b, product = build(tf, "/{}:0".format(args.device), args.size, args.seed)
    config = tf.ConfigProto(allow_soft_placement=False, log_device_placement=False)
    with tf.Session(config=config) as session:
        session.run(tf.global_variables_initializer())
        devices, placed = placed_on(tf, session, product.op, device_type)
        result["device"] = devices[0] if len(devices) == 1 else devices
        seconds = timed(session, product.op, args.repeat)
        a_value, b_value, got = session.run([a, b, product])
    expected = np.dot(a_value.astype(np.float64), b_value.astype(np.float64))
    error = float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))
    result["max_error"] = error
    result["gflops"] = 2.0 * args.size ** 3 * args.repeat / seconds / 1e9
    problems = []
    if not placed:
        problems.append("MatMul ran on {} not on the {}".format(devices, device_type))
    if not error <= args.max_error:
        problems.append("max error {:.3g} above {:.3g}".format(error, args.max_error))
    result["ok"] = not problems
    if problems:
        result["error"] = "; ".join(problems)
    return result


def main(argv=None):
    args = parse_args(argv)
    try:
        result = run(args)
    except Exception as err:  # the suite reads the JSON line: report, do not trace back
        result = {"ok": False, "error": "{}: {}".format(type(err).__name__, err)}
    print(json.dumps(result, sort_keys=True))
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
