# Sourced by the scripts that start MPI jobs on this machine (not needed on a cluster under Slurm).
# Open MPI refuses to run as root unless told twice; containers and CI runners often are root.
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# One BLAS thread per rank: ranks already use the cores.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
# Allow more ranks than cores (the tests run 4 ranks on small machines); -q hides mpirun's own banner
# after a non-zero exit, so an error is the one line nmf_mpi prints.
NMF_MPIRUN=(mpirun -q --oversubscribe)
