//! The host side of the host-shader contract: a uniform struct is declared once in Rust
//! with [`uniform!`](crate::uniform), which also describes its layout (member paths,
//! offsets, sizes, scalar kinds). [`Gpu::dispatch`](super::Gpu::dispatch) compares that
//! description with the layout naga reflects from the shader, so a drift between the two
//! is an error naming both layouts instead of wrong numbers.

use std::fmt;

use bytemuck::Pod;
use wgpu::util::DeviceExt;

use super::Gpu;

/// One scalar, vector or array member, flattened: `a_rows.radix` for a nested struct.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub path: String,
    pub offset: usize,
    pub size: usize,
    pub scalar: Scalar,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    U32,
    I32,
    F32,
}

/// A struct's flattened members and its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub leaves: Vec<Leaf>,
    pub size: usize,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for leaf in &self.leaves {
            writeln!(f, "    {:>4} {:>3} {:?} {}", leaf.offset, leaf.size, leaf.scalar, leaf.path)?;
        }
        write!(f, "    size {}", self.size)
    }
}

/// A type that can be a member of a uniform struct: its leaves at `offset`, named `path`.
pub trait HostLayout {
    fn leaves(path: &str, offset: usize, out: &mut Vec<Leaf>);
}

/// A whole uniform struct, declared with [`uniform!`](crate::uniform).
pub trait Uniform: Pod + HostLayout {
    fn layout() -> Layout {
        let mut leaves = Vec::new();
        Self::leaves("", 0, &mut leaves);
        Layout { leaves, size: std::mem::size_of::<Self>() }
    }
}

macro_rules! scalar_layout {
    ($($ty:ty => $scalar:ident),*) => {$(
        impl HostLayout for $ty {
            fn leaves(path: &str, offset: usize, out: &mut Vec<Leaf>) {
                out.push(Leaf { path: path.into(), offset, size: 4, scalar: Scalar::$scalar });
            }
        }
        /// A WGSL vector (`vec2<..>`, `vec4<..>`).
        impl<const N: usize> HostLayout for [$ty; N] {
            fn leaves(path: &str, offset: usize, out: &mut Vec<Leaf>) {
                out.push(Leaf { path: path.into(), offset, size: 4 * N, scalar: Scalar::$scalar });
            }
        }
    )*};
}
scalar_layout!(u32 => U32, i32 => I32, f32 => F32);

/// Declares a `#[repr(C)]` uniform struct and its [`Uniform`] layout. Members whose
/// names start with `_` are padding and not part of the layout; nested structs must
/// themselves be declared with this macro.
#[macro_export]
macro_rules! uniform {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($(#[$field_meta:meta])* $field_vis:vis $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
        $vis struct $name { $($(#[$field_meta])* $field_vis $field: $ty),* }

        impl $crate::gpu::HostLayout for $name {
            fn leaves(path: &str, offset: usize, out: &mut Vec<$crate::gpu::Leaf>) {
                $(
                    if !stringify!($field).starts_with('_') {
                        let name = stringify!($field);
                        let path = if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
                        <$ty as $crate::gpu::HostLayout>::leaves(&path, offset + std::mem::offset_of!($name, $field), out);
                    }
                )*
            }
        }

        impl $crate::gpu::Uniform for $name {}
    };
}

/// A shader's `var<uniform>` and the Rust struct that mirrors it.
pub struct UniformMirror {
    pub shader: &'static str,
    pub variable: &'static str,
    pub type_name: &'static str,
    pub layout: Layout,
}

impl UniformMirror {
    pub fn of<T: Uniform>(shader: &'static str, variable: &'static str) -> UniformMirror {
        UniformMirror { shader, variable, type_name: std::any::type_name::<T>(), layout: T::layout() }
    }
}

/// A uniform buffer and the layout of the Rust struct it was made from.
pub struct UniformBuffer {
    pub(super) buffer: wgpu::Buffer,
    pub(super) type_name: &'static str,
    pub(super) layout: Layout,
}

impl Gpu {
    /// A uniform buffer holding `value`.
    pub fn uniform<T: Uniform>(&self, value: &T) -> UniformBuffer {
        // Uniform structs are sized in multiples of 16 bytes in WGSL's layout rules.
        let mut contents = bytemuck::bytes_of(value).to_vec();
        contents.resize(contents.len().div_ceil(16).max(1) * 16, 0);
        self.count_allocation(contents.len() as u64);
        let buffer = self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: &contents,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        UniformBuffer { buffer, type_name: std::any::type_name::<T>(), layout: T::layout() }
    }
}
