//! [`compose_runtime!`](crate::compose_runtime): a runtime's `Call`, `Event` and `RuntimeError`
//! enums from its modules, with the conversions, the dispatch and the metadata that every
//! runtime otherwise writes by hand; [`module_error!`](crate::module_error): a module's errors.

/// Declares a runtime's modules under FRAME's names with their indices (part of the wire
/// format: never renumber), and from them the `Call`, `Event` and `RuntimeError` enums, `From`
/// each module's event, `Dispatch<Event> for Call` (a module listed under `inherents` is
/// dispatched as an inherent; module errors leave it with their module's index), and the
/// modules' metadata ([`crate::metadata::Modules`] for `Call`).
///
/// ```ignore
/// tessera_runtime::compose_runtime! {
///     modules {
///         /// Blocks, accounts and events.
///         0 => System {
///             call: system::Call, event: system::Event, error: system::Error,
///             storage: system::storage_metadata,
///         },
///         /// Balances and transfers.
///         1 => Balances { call: balances::Call, event: balances::Event, error: balances::Error },
///     }
///     inherents {}
/// }
/// ```
///
/// The name of a module is the prefix of its storage keys: it must equal the `NAME` its storage
/// items and errors are declared with. The crate using the macro depends on
/// `parity-scale-codec` and `scale-info`.
#[macro_export]
macro_rules! compose_runtime {
    (
        modules {
            $(
                $(#[doc = $doc:literal])*
                $index:literal => $name:ident {
                    $( call: $call:ty, )?
                    $( event: $event:ty, )?
                    $( error: $error:ty, )?
                    $( storage: $storage:path, )?
                }
            ),* $(,)?
        }
        inherents { $( $inherent:ident ),* $(,)? }
    ) => {
        /// Every call of the runtime.
        #[derive(
            Clone, Debug, PartialEq, Eq,
            parity_scale_codec::Encode, parity_scale_codec::Decode, scale_info::TypeInfo,
        )]
        pub enum Call {
            $( $(
                #[doc = concat!("`", stringify!($name), "`.")]
                #[codec(index = $index)]
                $name($call),
            )? )*
        }

        /// Every event of the runtime.
        #[derive(
            Clone, Debug, PartialEq, Eq,
            parity_scale_codec::Encode, parity_scale_codec::Decode, scale_info::TypeInfo,
        )]
        pub enum Event {
            $( $(
                #[doc = concat!("`", stringify!($name), "`.")]
                #[codec(index = $index)]
                $name($event),
            )? )*
        }

        /// Every module error of the runtime, as `DispatchError::Module` encodes them.
        #[derive(
            Clone, Debug, PartialEq, Eq,
            parity_scale_codec::Encode, parity_scale_codec::Decode, scale_info::TypeInfo,
        )]
        pub enum RuntimeError {
            $( $(
                #[doc = concat!("`", stringify!($name), "`.")]
                #[codec(index = $index)]
                $name($error),
            )? )*
        }

        $( $(
            impl From<$event> for Event {
                fn from(event: $event) -> Self {
                    Event::$name(event)
                }
            }
        )? )*

        /// The index of the module named `name`, if the runtime has it.
        pub fn module_index(name: &str) -> Option<u8> {
            match name {
                $( stringify!($name) => Some($index), )*
                _ => None,
            }
        }

        /// `error` as this runtime records it: a module error with its module's index.
        pub fn dispatch_error(
            error: impl Into<$crate::dispatch::DispatchError>,
        ) -> $crate::dispatch::DispatchError {
            error.into().with_module_index(module_index)
        }

        impl $crate::dispatch::Dispatch<Event> for Call {
            fn weight(&self) -> $crate::dispatch::Weight {
                match self {
                    $( $( Call::$name(call) => {
                        <$call as $crate::dispatch::Dispatch<Event>>::weight(call)
                    } )? )*
                }
            }

            fn dispatch(
                self,
                ctx: &mut $crate::dispatch::Context<'_, Event>,
                origin: $crate::dispatch::Origin,
            ) -> $crate::dispatch::CallResult {
                let result = match self {
                    $( $( Call::$name(call) => {
                        <$call as $crate::dispatch::Dispatch<Event>>::dispatch(call, ctx, origin)
                    } )? )*
                };
                result.map_err(|error| match error {
                    $crate::dispatch::CallError::Dispatch(error) => {
                        $crate::dispatch::CallError::Dispatch(error.with_module_index(module_index))
                    }
                    other => other,
                })
            }

            fn is_inherent(&self) -> bool {
                #[allow(unreachable_patterns)]
                match self {
                    $( Call::$inherent(_) => true, )*
                    _ => false,
                }
            }

            fn is_report(&self) -> bool {
                match self {
                    $( $( Call::$name(call) => {
                        <$call as $crate::dispatch::Dispatch<Event>>::is_report(call)
                    } )? )*
                }
            }
        }

        impl $crate::metadata::Modules for Call {
            type Event = Event;
            type Error = RuntimeError;

            fn modules() -> $crate::metadata::Vec<$crate::metadata::ModuleMetadata> {
                $crate::metadata::Vec::from([
                    $(
                        $crate::metadata::ModuleMetadata {
                            name: stringify!($name),
                            index: $index,
                            calls: None $( .or(Some($crate::metadata::meta_type::<$call>())) )?,
                            event: None $( .or(Some($crate::metadata::meta_type::<$event>())) )?,
                            error: None $( .or(Some($crate::metadata::meta_type::<$error>())) )?,
                            storage: None $( .or(Some($storage())) )? .unwrap_or_default(),
                            docs: &[$($doc),*],
                        },
                    )*
                ])
            }
        }
    };
}

/// Declares a module's `Error` enum: SCALE-encoded in at most four bytes (a variant index and
/// at most three bytes of fields, Substrate's limit), named in logs, and turned into
/// [`DispatchError::Module`](crate::dispatch::DispatchError::Module) and `CallError` with `?`.
///
/// ```ignore
/// tessera_runtime::module_error! {
///     /// Errors of `notes`.
///     pub enum Error for NAME {
///         /// The note is longer than a note may be.
///         NoteTooLong,
///     }
/// }
/// ```
///
/// The crate using it depends on `parity-scale-codec` and `scale-info`.
#[macro_export]
macro_rules! module_error {
    (
        $(#[$meta:meta])*
        pub enum Error for $module:path {
            $( $(#[$variant_meta:meta])* $variant:ident $( ($field:ty) )? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq,
            parity_scale_codec::Encode, parity_scale_codec::Decode, scale_info::TypeInfo,
        )]
        pub enum Error {
            $( $(#[$variant_meta])* $variant $( ($field) )?, )*
        }

        impl $crate::dispatch::ModuleErrorKind for Error {
            const MODULE: &'static str = $module;

            fn name(&self) -> &'static str {
                match self {
                    $( Error::$variant { .. } => stringify!($variant), )*
                }
            }
        }

        impl From<Error> for $crate::dispatch::DispatchError {
            fn from(error: Error) -> Self {
                $crate::dispatch::DispatchError::Module($crate::dispatch::ModuleError::new(&error))
            }
        }

        impl From<Error> for $crate::dispatch::CallError {
            fn from(error: Error) -> Self {
                $crate::dispatch::CallError::Dispatch(error.into())
            }
        }
    };
}
