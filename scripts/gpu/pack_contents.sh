# What scripts/gpu/pack.sh packs and scripts/gpu/check.sh runs (sourced by both).

# The build targets, and their programs relative to the build folder.
pack_targets=(neft_unit_tests neft_op_bench neft_train_bench neft_neuron_bench neft)
pack_binaries=(tests/neft_unit_tests benchmarks/neft_op_bench benchmarks/neft_train_bench
               benchmarks/neft_neuron_bench launch/neft)

# True for a library (by soname) that a GPU machine with the CUDA toolkit has itself: glibc's,
# the driver's, the toolkit's, and NCCL and cuDNN (with the toolkit or with PyTorch). Every
# other one travels in the pack.
provided_by_gpu_machine() {
  case "$1" in
    linux-vdso.so* | ld-linux-x86-64.so* | libc.so* | libm.so* | libpthread.so* | libdl.so* | \
      librt.so* | libutil.so* | libresolv.so* | libanl.so*) return 0 ;;
    libcuda.so* | libnvidia-*.so* | libcudart.so* | libcublas.so* | libcublasLt.so* | \
      libnvrtc*.so* | libnvJitLink.so* | libcurand.so* | libcufft.so* | libcusparse.so* | \
      libcusolver.so* | libnccl.so* | libcudnn*.so*) return 0 ;;
  esac
  return 1
}
