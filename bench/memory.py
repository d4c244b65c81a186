"""Peak resident memory of what a bench ran: the measured basis of the Kubernetes
manifests' memory requests and limits (``deploy/k8s``, README "Resources").

The kernel keeps each process's peak (``VmHWM``) until it ends, so a bench reads it
just before it stops a server; a server that serves from children (uvicorn with
several workers) is its whole process tree, each process's peak added up: a
little above what the tree ever held at once, which is the safe side for a limit.
"""

from __future__ import annotations

from bench.pinning import process_tree


def peak_mib(pid: int) -> float:
    """Sum of the peak resident memory of ``pid`` and every process below it, in MiB."""
    total_kib = 0
    for task in process_tree(pid):
        try:
            with open(f"/proc/{task}/status") as status:
                total_kib += next(
                    int(line.split()[1]) for line in status if line.startswith("VmHWM:")
                )
        except (OSError, StopIteration):
            continue  # ended meanwhile, or a kernel thread without memory
    return total_kib / 1024
