"""The parts of `benchmarks/train_throughput.py`.

``common``        what every worker shares: synthetic data, timers, memory readings
``keras_worker``  the Keras networks (the package's PolyNet, the ReLU CNN) and their loop
``torch_worker``  the PyTorch reference (``torch_polynet``) and its loop
``roofline``      FLOPs per training image (counted from the layers) and the GEMM peak
``report``        statistics over the subprocesses, the JSON's flat keys, the table
"""
