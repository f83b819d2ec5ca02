//! Substrate's V1 trie node format, as a `trie-db` [`NodeCodec`].
//!
//! A node starts with a header: two bits of kind (leaf, branch with or without value) and the
//! partial key's nibble count, with a three- or four-bit form for nodes whose value is stored
//! as a separate hashed node (values of 33 bytes or more). Branches carry a 16-bit child bitmap;
//! children and inline values are SCALE length-prefixed.

use crate::hashing::Hash;
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::marker::PhantomData;
use hash_db::Hasher;
use parity_scale_codec::{Compact, Decode, Encode, Input};
use trie_db::node::{NibbleSlicePlan, NodeHandlePlan, NodePlan, Value, ValuePlan};
use trie_db::{nibble_ops, ChildReference, NodeCodec as NodeCodecT};

const EMPTY_TRIE: u8 = 0;
const LEAF_PREFIX_MASK: u8 = 0b01 << 6;
const BRANCH_WITHOUT_VALUE_MASK: u8 = 0b10 << 6;
const BRANCH_WITH_VALUE_MASK: u8 = 0b11 << 6;
const HASHED_VALUE_LEAF_MASK: u8 = 0b001 << 5;
const HASHED_VALUE_BRANCH_MASK: u8 = 0b0001 << 4;
/// Reserved byte for a compact-proof escape; never a valid node header here.
const ESCAPE_COMPACT_HEADER: u8 = 0b0000_0001;
/// Partial keys longer than this many nibbles are refused (as Substrate does) to bound decoding.
const NIBBLE_SIZE_BOUND: usize = u16::MAX as usize;
const BITMAP_LENGTH: usize = 2;

/// Why a node failed to decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeCodecError {
    /// The bytes ended early or a length prefix is invalid.
    #[error("codec: {0}")]
    Codec(&'static str),
    /// The header byte is not one of the node kinds.
    #[error("unknown node header")]
    UnknownHeader,
    /// A branch without any children.
    #[error("branch without children")]
    EmptyBitmap,
    /// Padding bits of an odd-length partial key are not zero.
    #[error("non-zero padding in partial key")]
    BadPadding,
    /// The partial key is longer than the bound.
    #[error("partial key too long")]
    PartialTooLong,
}

impl From<parity_scale_codec::Error> for NodeCodecError {
    fn from(_: parity_scale_codec::Error) -> Self {
        NodeCodecError::Codec("invalid length prefix or truncated node")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeHeader {
    Null,
    Branch { has_value: bool, nibbles: usize },
    Leaf(usize),
    HashedValueBranch(usize),
    HashedValueLeaf(usize),
}

impl NodeHeader {
    fn encode_into(self, out: &mut Vec<u8>) {
        match self {
            NodeHeader::Null => out.push(EMPTY_TRIE),
            NodeHeader::Branch {
                has_value: true,
                nibbles,
            } => encode_size_and_prefix(nibbles, BRANCH_WITH_VALUE_MASK, 2, out),
            NodeHeader::Branch {
                has_value: false,
                nibbles,
            } => encode_size_and_prefix(nibbles, BRANCH_WITHOUT_VALUE_MASK, 2, out),
            NodeHeader::Leaf(nibbles) => encode_size_and_prefix(nibbles, LEAF_PREFIX_MASK, 2, out),
            NodeHeader::HashedValueBranch(nibbles) => {
                encode_size_and_prefix(nibbles, HASHED_VALUE_BRANCH_MASK, 4, out)
            }
            NodeHeader::HashedValueLeaf(nibbles) => {
                encode_size_and_prefix(nibbles, HASHED_VALUE_LEAF_MASK, 3, out)
            }
        }
    }

    fn decode(input: &mut Cursor<'_>) -> Result<Self, NodeCodecError> {
        let first = input.read_byte()?;
        if first == EMPTY_TRIE {
            return Ok(NodeHeader::Null);
        }
        match first & (0b11 << 6) {
            LEAF_PREFIX_MASK => Ok(NodeHeader::Leaf(decode_size(first, input, 2)?)),
            BRANCH_WITH_VALUE_MASK => Ok(NodeHeader::Branch {
                has_value: true,
                nibbles: decode_size(first, input, 2)?,
            }),
            BRANCH_WITHOUT_VALUE_MASK => Ok(NodeHeader::Branch {
                has_value: false,
                nibbles: decode_size(first, input, 2)?,
            }),
            _ if first & (0b111 << 5) == HASHED_VALUE_LEAF_MASK => {
                Ok(NodeHeader::HashedValueLeaf(decode_size(first, input, 3)?))
            }
            _ if first & (0b1111 << 4) == HASHED_VALUE_BRANCH_MASK => {
                Ok(NodeHeader::HashedValueBranch(decode_size(first, input, 4)?))
            }
            _ => Err(NodeCodecError::UnknownHeader),
        }
    }
}

/// Writes the prefix with as much of `size` as fits in its low bits, then the rest in bytes of
/// 255 ending with one below 255.
fn encode_size_and_prefix(size: usize, prefix: u8, prefix_bits: u32, out: &mut Vec<u8>) {
    let size = size.min(NIBBLE_SIZE_BOUND);
    let max_value = 255u8 >> prefix_bits;
    let first_part = usize::from(max_value).saturating_sub(1).min(size);
    if size == first_part {
        out.push(prefix | first_part as u8);
        return;
    }
    out.push(prefix | max_value);
    let mut remaining = size.saturating_sub(first_part);
    while remaining >= 256 {
        out.push(255);
        remaining = remaining.saturating_sub(255);
    }
    out.push(remaining.saturating_sub(1) as u8);
}

fn decode_size(
    first: u8,
    input: &mut Cursor<'_>,
    prefix_bits: u32,
) -> Result<usize, NodeCodecError> {
    let max_value = 255u8 >> prefix_bits;
    let mut result = usize::from(first & max_value);
    if result < usize::from(max_value) {
        return Ok(result);
    }
    result = result.saturating_sub(1);
    loop {
        let next = usize::from(input.read_byte()?);
        if next < 255 {
            return Ok(result.saturating_add(next).saturating_add(1));
        }
        result = result.saturating_add(255);
        if result > NIBBLE_SIZE_BOUND {
            return Err(NodeCodecError::PartialTooLong);
        }
    }
}

/// A byte cursor that hands out ranges, as `NodePlan` wants.
struct Cursor<'a> {
    data: &'a [u8],
    offset: usize,
}

impl Cursor<'_> {
    fn take(&mut self, count: usize) -> Result<core::ops::Range<usize>, NodeCodecError> {
        let start = self.offset;
        let end = start
            .checked_add(count)
            .ok_or(NodeCodecError::Codec("length overflow"))?;
        if end > self.data.len() {
            return Err(NodeCodecError::Codec("unexpected end of node"));
        }
        self.offset = end;
        Ok(start..end)
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.offset).copied()
    }
}

impl Input for Cursor<'_> {
    fn remaining_len(&mut self) -> Result<Option<usize>, parity_scale_codec::Error> {
        Ok(Some(self.data.len().saturating_sub(self.offset)))
    }

    fn read(&mut self, into: &mut [u8]) -> Result<(), parity_scale_codec::Error> {
        let range = self
            .take(into.len())
            .map_err(|_| "unexpected end of node")?;
        into.copy_from_slice(self.data.get(range).ok_or("unexpected end of node")?);
        Ok(())
    }
}

/// The node codec of Substrate's trie layouts, over hasher `H` (blake2b-256 for Tessera).
#[derive(Default, Clone, Copy, Debug)]
pub struct NodeCodec<H>(PhantomData<H>);

impl<H: Hasher<Out = Hash>> NodeCodec<H> {
    fn partial_then_rest(
        data: &[u8],
        input: &mut Cursor<'_>,
        nibbles: usize,
    ) -> Result<NibbleSlicePlan, NodeCodecError> {
        let padded = !nibbles.is_multiple_of(nibble_ops::NIBBLE_PER_BYTE);
        if padded && input.peek().map(nibble_ops::pad_left) != Some(0) {
            return Err(NodeCodecError::BadPadding);
        }
        let bytes = nibbles.div_ceil(nibble_ops::NIBBLE_PER_BYTE);
        let partial = input.take(bytes)?;
        debug_assert!(partial.end <= data.len());
        Ok(NibbleSlicePlan::new(
            partial,
            nibble_ops::number_padding(nibbles),
        ))
    }

    fn value_plan(input: &mut Cursor<'_>, hashed: bool) -> Result<ValuePlan, NodeCodecError> {
        if hashed {
            return Ok(ValuePlan::Node(input.take(H::LENGTH)?));
        }
        let len = Compact::<u32>::decode(input)?.0 as usize;
        Ok(ValuePlan::Inline(input.take(len)?))
    }

    fn header_then_partial(
        header: NodeHeader,
        partial: impl Iterator<Item = u8>,
        nibbles: usize,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity((nibbles / 2).saturating_add(4));
        header.encode_into(&mut out);
        out.extend(partial);
        out
    }

    fn push_value(out: &mut Vec<u8>, value: Value<'_>) {
        match value {
            Value::Inline(bytes) => bytes.encode_to(out),
            Value::Node(hash) => out.extend_from_slice(hash),
        }
    }
}

impl<H: Hasher<Out = Hash>> NodeCodecT for NodeCodec<H> {
    const ESCAPE_HEADER: Option<u8> = Some(ESCAPE_COMPACT_HEADER);
    type Error = NodeCodecError;
    type HashOut = Hash;

    fn hashed_null_node() -> Hash {
        H::hash(&[EMPTY_TRIE])
    }

    fn decode_plan(data: &[u8]) -> Result<NodePlan, NodeCodecError> {
        let mut input = Cursor { data, offset: 0 };
        let plan = match NodeHeader::decode(&mut input)? {
            NodeHeader::Null => NodePlan::Empty,
            header @ (NodeHeader::Branch { nibbles, .. }
            | NodeHeader::HashedValueBranch(nibbles)) => {
                let partial = Self::partial_then_rest(data, &mut input, nibbles)?;
                let bitmap_range = input.take(BITMAP_LENGTH)?;
                let bitmap = data
                    .get(bitmap_range)
                    .and_then(|b| <[u8; 2]>::try_from(b).ok())
                    .map(u16::from_le_bytes)
                    .ok_or(NodeCodecError::Codec("bitmap"))?;
                if bitmap == 0 {
                    return Err(NodeCodecError::EmptyBitmap);
                }
                let value = match header {
                    NodeHeader::Branch {
                        has_value: false, ..
                    } => None,
                    NodeHeader::HashedValueBranch(_) => Some(Self::value_plan(&mut input, true)?),
                    _ => Some(Self::value_plan(&mut input, false)?),
                };
                let mut children: [Option<NodeHandlePlan>; nibble_ops::NIBBLE_LENGTH] =
                    Default::default();
                for (index, child) in children.iter_mut().enumerate() {
                    if bitmap & (1u16 << index) == 0 {
                        continue;
                    }
                    let len = Compact::<u32>::decode(&mut input)?.0 as usize;
                    let range = input.take(len)?;
                    *child = Some(if len == H::LENGTH {
                        NodeHandlePlan::Hash(range)
                    } else {
                        NodeHandlePlan::Inline(range)
                    });
                }
                NodePlan::NibbledBranch {
                    partial,
                    value,
                    children,
                }
            }
            header @ (NodeHeader::Leaf(nibbles) | NodeHeader::HashedValueLeaf(nibbles)) => {
                let partial = Self::partial_then_rest(data, &mut input, nibbles)?;
                let hashed = matches!(header, NodeHeader::HashedValueLeaf(_));
                NodePlan::Leaf {
                    partial,
                    value: Self::value_plan(&mut input, hashed)?,
                }
            }
        };
        Ok(plan)
    }

    fn is_empty_node(data: &[u8]) -> bool {
        data == [EMPTY_TRIE]
    }

    fn empty_node() -> &'static [u8] {
        &[EMPTY_TRIE]
    }

    fn leaf_node(partial: impl Iterator<Item = u8>, nibbles: usize, value: Value<'_>) -> Vec<u8> {
        let header = match value {
            Value::Node(_) => NodeHeader::HashedValueLeaf(nibbles),
            Value::Inline(_) => NodeHeader::Leaf(nibbles),
        };
        let mut out = Self::header_then_partial(header, partial, nibbles);
        Self::push_value(&mut out, value);
        out
    }

    fn extension_node(
        _partial: impl Iterator<Item = u8>,
        _nibbles: usize,
        _child: ChildReference<Hash>,
    ) -> Vec<u8> {
        // The layout sets USE_EXTENSION = false, so trie-db never asks for one.
        Vec::new()
    }

    fn branch_node(
        _children: impl Iterator<Item = impl Borrow<Option<ChildReference<Hash>>>>,
        _value: Option<Value<'_>>,
    ) -> Vec<u8> {
        // Without extensions every branch is a nibbled branch.
        Vec::new()
    }

    fn branch_node_nibbled(
        partial: impl Iterator<Item = u8>,
        nibbles: usize,
        children: impl Iterator<Item = impl Borrow<Option<ChildReference<Hash>>>>,
        value: Option<Value<'_>>,
    ) -> Vec<u8> {
        let header = match value {
            None => NodeHeader::Branch {
                has_value: false,
                nibbles,
            },
            Some(Value::Inline(_)) => NodeHeader::Branch {
                has_value: true,
                nibbles,
            },
            Some(Value::Node(_)) => NodeHeader::HashedValueBranch(nibbles),
        };
        let mut out = Self::header_then_partial(header, partial, nibbles);
        let bitmap_at = out.len();
        out.extend_from_slice(&[0; BITMAP_LENGTH]);
        if let Some(value) = value {
            Self::push_value(&mut out, value);
        }
        let mut bitmap = 0u16;
        for (index, child) in children.enumerate() {
            match child.borrow() {
                Some(ChildReference::Hash(hash)) => hash.as_ref().encode_to(&mut out),
                Some(ChildReference::Inline(data, len)) => data
                    .as_ref()
                    .get(..*len)
                    .unwrap_or_default()
                    .encode_to(&mut out),
                None => continue,
            }
            bitmap |= 1u16.checked_shl(index as u32).unwrap_or(0);
        }
        if let Some(slot) = out.get_mut(bitmap_at..bitmap_at.saturating_add(BITMAP_LENGTH)) {
            slot.copy_from_slice(&bitmap.to_le_bytes());
        }
        out
    }
}
