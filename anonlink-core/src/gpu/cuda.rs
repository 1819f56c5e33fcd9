//! The CUDA device (feature `gpu`): the driver and NVRTC are loaded at run time by cudarc,
//! so a build needs no CUDA toolkit and a machine without a GPU only gets an error saying
//! so.
#![allow(unsafe_code)]

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaStream, LaunchConfig, PushKernelArg};

use super::{Device, Emitted, KERNEL_SOURCE, Ran, TileJob, decode_emitted};
use crate::error::{Error, Result};

/// Threads per block side: 16 × 16 pairs per block.
const BLOCK: u32 = 16;

/// The first GPU, with the kernel compiled for it.
pub(super) struct CudaDevice {
    context: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    kernel: CudaFunction,
}

fn device_error(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::Device {
        reason: format!("{what}: {e:?}"),
    }
}

impl CudaDevice {
    pub(super) fn open() -> Result<CudaDevice> {
        // SAFETY: only asks the dynamic loader whether the libraries exist; cudarc panics
        // on first use when they do not, so this is checked before any use.
        let present = unsafe {
            cudarc::driver::sys::is_culib_present() && cudarc::nvrtc::sys::is_culib_present()
        };
        if !present {
            return Err(Error::Device {
                reason: "no CUDA driver or NVRTC library found (libcuda, libnvrtc)".into(),
            });
        }
        let context = CudaContext::new(0).map_err(|e| device_error("no usable GPU", e))?;
        let ptx = cudarc::nvrtc::compile_ptx(KERNEL_SOURCE)
            .map_err(|e| device_error("compiling the kernel", e))?;
        let module = context
            .load_module(ptx)
            .map_err(|e| device_error("loading the kernel", e))?;
        let kernel = module
            .load_function("dice_tile")
            .map_err(|e| device_error("loading the kernel", e))?;
        let stream = context.default_stream();
        Ok(CudaDevice {
            context,
            stream,
            kernel,
        })
    }
}

impl Device for CudaDevice {
    fn name(&self) -> String {
        let name = self.context.name().unwrap_or_else(|_| "unknown".into());
        format!("cuda:{} {name}", self.context.ordinal())
    }

    fn run(&self, job: &TileJob<'_>, out: &mut Vec<Emitted>) -> Result<Ran> {
        let failed = |e| device_error("running a tile", e);
        let s = &self.stream;
        let (rows_a, rows_b) = (job.offset_a.len() as u32, job.offset_b.len() as u32);
        let a = s.clone_htod(job.a).map_err(failed)?;
        let b = s.clone_htod(job.b).map_err(failed)?;
        let offset_a = s.clone_htod(job.offset_a).map_err(failed)?;
        let offset_b = s.clone_htod(job.offset_b).map_err(failed)?;
        let mut hits = s
            .alloc_zeros::<u32>(3 * job.capacity.max(1))
            .map_err(failed)?;
        let mut emitted = s.alloc_zeros::<u64>(1).map_err(failed)?;
        let (words, capacity) = (job.words as u32, job.capacity as u32);
        let config = LaunchConfig {
            grid_dim: (rows_b.div_ceil(BLOCK), rows_a.div_ceil(BLOCK), 1),
            block_dim: (BLOCK, BLOCK, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = s.launch_builder(&self.kernel);
        launch
            .arg(&a)
            .arg(&rows_a)
            .arg(&b)
            .arg(&rows_b)
            .arg(&words)
            .arg(&offset_a)
            .arg(&offset_b)
            .arg(&mut hits)
            .arg(&capacity)
            .arg(&mut emitted);
        // SAFETY: the arguments match the kernel's parameters in order and type; the
        // kernel reads `rows × words` words of `a` and `b` and one offset per row, all
        // copied above, and writes at most `3 × capacity` words of `hits`, its size.
        unsafe { launch.launch(config) }.map_err(failed)?;
        let count = s.clone_dtoh(&emitted).map_err(failed)?[0];
        if count > job.capacity as u64 {
            return Ok(Ran::Overflow { emitted: count });
        }
        let buffer = s.clone_dtoh(&hits).map_err(failed)?;
        out.extend(decode_emitted(&buffer, count));
        Ok(Ran::Complete)
    }
}
