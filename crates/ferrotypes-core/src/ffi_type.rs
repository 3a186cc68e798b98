//! Owned libffi type trees for aggregates.
//!
//! Scalars use libffi's static descriptors. A structure, union or array passed by value needs
//! an `ffi_type` of kind STRUCT whose `elements` list describes its members for the ABI's
//! register classification; those are built here and owned by an [`FfiType`], which keeps
//! every descriptor it points to alive for as long as any call interface uses it.
use libffi::low::{ffi_type, type_tag};
use std::sync::Arc;

/// A libffi type: either one of libffi's process-lifetime scalars or an owned aggregate.
#[derive(Clone, Debug)]
pub enum FfiType {
    Static(*mut ffi_type),
    Aggregate(Arc<Aggregate>),
}

// SAFETY: a static descriptor is never written after libffi initialises it, and an
// `Aggregate` is immutable once built; sharing the pointers between threads is sound.
unsafe impl Send for FfiType {}
// SAFETY: as above, nothing reachable through an `FfiType` is mutated after construction.
unsafe impl Sync for FfiType {}

/// An owned STRUCT descriptor with its NULL-terminated element list and the element types.
pub struct Aggregate {
    descriptor: Box<ffi_type>,
    _element_ptrs: Box<[*mut ffi_type]>,
    _elements: Vec<FfiType>,
}

impl std::fmt::Debug for Aggregate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Aggregate(size={}, align={})", self.descriptor.size, self.descriptor.alignment)
    }
}

impl FfiType {
    /// The descriptor pointer to hand to libffi; valid while `self` (or a clone) lives.
    pub fn as_ptr(&self) -> *mut ffi_type {
        match self {
            FfiType::Static(p) => *p,
            FfiType::Aggregate(a) => &*a.descriptor as *const ffi_type as *mut ffi_type,
        }
    }

    /// Builds a STRUCT descriptor with an explicit size and alignment (ctypes computes the
    /// layout itself — packing and bit fields included — so libffi must not recompute it) and
    /// the member types libffi uses to classify it for registers.
    pub fn aggregate(size: usize, align: usize, elements: Vec<FfiType>) -> FfiType {
        let mut ptrs: Vec<*mut ffi_type> = elements.iter().map(FfiType::as_ptr).collect();
        ptrs.push(std::ptr::null_mut());
        let mut element_ptrs = ptrs.into_boxed_slice();
        let descriptor = Box::new(ffi_type {
            size,
            alignment: align as u16,
            type_: type_tag::STRUCT,
            elements: element_ptrs.as_mut_ptr(),
        });
        FfiType::Aggregate(Arc::new(Aggregate { descriptor, _element_ptrs: element_ptrs, _elements: elements }))
    }

    /// Size in bytes as libffi sees it.
    pub fn size(&self) -> usize {
        // SAFETY: `as_ptr` is valid while `self` lives.
        unsafe { (*self.as_ptr()).size }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simple::SimpleKind;

    #[test]
    fn aggregate_keeps_its_elements() {
        let int = FfiType::Static(SimpleKind::from_code(b'i').unwrap().ffi_type());
        let inner = FfiType::aggregate(8, 4, vec![int.clone(), int.clone()]);
        let outer = FfiType::aggregate(16, 4, vec![inner.clone(), inner]);
        // SAFETY: the descriptors are owned by `outer`, alive for this scope.
        unsafe {
            let d = &*outer.as_ptr();
            assert_eq!(d.type_, type_tag::STRUCT);
            assert_eq!(d.size, 16);
            assert!(!(*d.elements).is_null() && (*d.elements.add(2)).is_null());
            assert_eq!((**d.elements).size, 8);
        }
    }
}
