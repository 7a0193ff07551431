package io.github.lstmkernels.onednn;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * Hand-written FFM bindings for the subset of oneDNN 3.x's C API ({@code dnnl.h}) this backend
 * uses. Each handle sits next to the C prototype it mirrors. Enum values were read from the
 * 3.13 headers.
 *
 * <p>Pointer arguments of the calls made on every kernel call ({@code set_data_handle},
 * {@code execute}, {@code stream_wait}) are bound as {@code long} addresses: on x86-64 a pointer
 * and a 64-bit integer travel in the same register, and no {@link MemorySegment} wrapper needs to
 * be allocated per call. Everything else takes segments.
 */
@SuppressWarnings("restricted")
final class Dnnl {
    // dnnl_status_t
    static final int SUCCESS = 0;
    // dnnl_data_type_t
    static final int F32 = 3;
    // dnnl_format_tag_t
    static final int TAG_ANY = 1;
    static final int TAG_TNC = 4;      // abc
    static final int TAG_NTC = 16;     // bac
    static final int TAG_LDNC = 5;     // abcd
    static final int TAG_LDIGO = 6;    // abcde
    static final int TAG_LDGO = 5;     // abcd
    static final int TAG_LDOI = 20;    // abdc
    static final int TAG_LDIO = 5;     // abcd
    // dnnl_prop_kind_t, dnnl_rnn_direction_t, dnnl_scratchpad_mode_t, dnnl_engine_kind_t, dnnl_stream_flags_t
    static final int FORWARD_TRAINING = 64;
    static final int FORWARD_INFERENCE = 96;
    static final int BACKWARD = 128;
    static final int UNIDIRECTIONAL_LEFT2RIGHT = 1;
    static final int UNIDIRECTIONAL_RIGHT2LEFT = 2;
    static final int BIDIRECTIONAL_CONCAT = 3;
    static final int SCRATCHPAD_MODE_USER = 1;
    static final int ENGINE_CPU = 1;
    static final int STREAM_DEFAULT_FLAGS = 1;
    // dnnl_query_t
    static final int QUERY_EXEC_ARG_MD = 255;
    static final int QUERY_SCRATCHPAD_MD = 136;
    // DNNL_ARG_*
    static final int ARG_SRC_LAYER = 1;
    static final int ARG_SRC_ITER = 2;
    static final int ARG_SRC_ITER_C = 3;
    static final int ARG_DST_LAYER = 17;
    static final int ARG_DST_ITER = 18;
    static final int ARG_DST_ITER_C = 19;
    static final int ARG_WEIGHTS_LAYER = 33;
    static final int ARG_WEIGHTS_ITER = 34;
    static final int ARG_WEIGHTS_PROJECTION = 36;
    static final int ARG_BIAS = 41;
    static final int ARG_WORKSPACE = 64;
    static final int ARG_SCRATCHPAD = 80;
    static final int ARG_DIFF_SRC_LAYER = 129;
    static final int ARG_DIFF_SRC_ITER = 130;
    static final int ARG_DIFF_SRC_ITER_C = 131;
    static final int ARG_DIFF_DST_LAYER = 145;
    static final int ARG_DIFF_DST_ITER = 146;
    static final int ARG_DIFF_DST_ITER_C = 147;
    static final int ARG_DIFF_WEIGHTS_LAYER = 161;
    static final int ARG_DIFF_WEIGHTS_ITER = 162;
    static final int ARG_DIFF_WEIGHTS_PROJECTION = 164;
    static final int ARG_DIFF_BIAS = 169;
    static final int ARG_FROM = 1;
    static final int ARG_TO = 17;
    /** sizeof(dnnl_exec_arg_t): {int arg; dnnl_memory_t memory;} with 4 bytes of padding. */
    static final long EXEC_ARG_BYTES = 16;
    static final long EXEC_ARG_MEMORY_OFFSET = 8;
    /** sizeof(dnnl_dims_t): DNNL_MAX_NDIMS (12) int64 values. */
    static final long DIMS_BYTES = 12 * 8;

    private static final Linker LINKER = Linker.nativeLinker();

    // const dnnl_version_t *dnnl_version(void);
    private final MethodHandle version;
    // dnnl_status_t dnnl_engine_create(dnnl_engine_t *engine, dnnl_engine_kind_t kind, size_t index);
    private final MethodHandle engineCreate;
    // dnnl_status_t dnnl_stream_create(dnnl_stream_t *stream, dnnl_engine_t engine, unsigned flags);
    private final MethodHandle streamCreate;
    // dnnl_status_t dnnl_stream_wait(dnnl_stream_t stream);
    private final MethodHandle streamWait;
    // dnnl_status_t dnnl_stream_destroy(dnnl_stream_t stream);
    private final MethodHandle streamDestroy;
    // dnnl_status_t dnnl_memory_desc_create_with_tag(dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims,
    //                                                 dnnl_data_type_t data_type, dnnl_format_tag_t tag);
    private final MethodHandle memoryDescCreateWithTag;
    // dnnl_status_t dnnl_memory_desc_create_with_strides(dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims,
    //                                                     dnnl_data_type_t data_type, const dnnl_dims_t strides);
    private final MethodHandle memoryDescCreateWithStrides;
    // dnnl_status_t dnnl_memory_desc_destroy(dnnl_memory_desc_t memory_desc);
    private final MethodHandle memoryDescDestroy;
    // int dnnl_memory_desc_equal(const_dnnl_memory_desc_t lhs, const_dnnl_memory_desc_t rhs);
    private final MethodHandle memoryDescEqual;
    // size_t dnnl_memory_desc_get_size(const_dnnl_memory_desc_t memory_desc);
    private final MethodHandle memoryDescGetSize;
    // dnnl_status_t dnnl_memory_create(dnnl_memory_t *memory, const_dnnl_memory_desc_t md, dnnl_engine_t engine,
    //                                  void *handle);
    private final MethodHandle memoryCreate;
    // dnnl_status_t dnnl_memory_set_data_handle(dnnl_memory_t memory, void *handle);
    private final MethodHandle memorySetDataHandle;
    // dnnl_status_t dnnl_memory_destroy(dnnl_memory_t memory);
    private final MethodHandle memoryDestroy;
    // dnnl_status_t dnnl_memory_get_memory_desc(const_dnnl_memory_t memory, const_dnnl_memory_desc_t *memory_desc);
    private final MethodHandle memoryGetMemoryDesc;
    // dnnl_status_t dnnl_primitive_attr_create(dnnl_primitive_attr_t *attr);
    private final MethodHandle primitiveAttrCreate;
    // dnnl_status_t dnnl_primitive_attr_destroy(dnnl_primitive_attr_t attr);
    private final MethodHandle primitiveAttrDestroy;
    // dnnl_status_t dnnl_primitive_attr_set_scratchpad_mode(dnnl_primitive_attr_t attr, dnnl_scratchpad_mode_t mode);
    private final MethodHandle primitiveAttrSetScratchpadMode;
    // dnnl_status_t dnnl_lstm_forward_primitive_desc_create(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
    //     dnnl_prop_kind_t prop_kind, dnnl_rnn_direction_t direction,
    //     src_layer, src_iter, src_iter_c, weights_layer, weights_iter, weights_peephole, weights_projection,
    //     bias, dst_layer, dst_iter, dst_iter_c (all const_dnnl_memory_desc_t), unsigned flags,
    //     const_dnnl_primitive_attr_t attr);
    private final MethodHandle lstmForwardPrimitiveDescCreate;
    // dnnl_status_t dnnl_lbr_gru_forward_primitive_desc_create(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
    //     dnnl_prop_kind_t prop_kind, dnnl_rnn_direction_t direction,
    //     src_layer, src_iter, weights_layer, weights_iter, bias, dst_layer, dst_iter (all const_dnnl_memory_desc_t),
    //     unsigned flags, const_dnnl_primitive_attr_t attr);
    private final MethodHandle lbrGruForwardPrimitiveDescCreate;
    // dnnl_status_t dnnl_lstm_backward_primitive_desc_create(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
    //     dnnl_prop_kind_t prop_kind, dnnl_rnn_direction_t direction,
    //     src_layer, src_iter, src_iter_c, weights_layer, weights_iter, weights_peephole, weights_projection,
    //     bias, dst_layer, dst_iter, dst_iter_c,
    //     diff_src_layer, diff_src_iter, diff_src_iter_c, diff_weights_layer, diff_weights_iter,
    //     diff_weights_peephole, diff_weights_projection, diff_bias, diff_dst_layer, diff_dst_iter, diff_dst_iter_c
    //     (all const_dnnl_memory_desc_t), unsigned flags, const_dnnl_primitive_desc_t hint_fwd_pd,
    //     const_dnnl_primitive_attr_t attr);
    private final MethodHandle lstmBackwardPrimitiveDescCreate;
    // dnnl_status_t dnnl_lbr_gru_backward_primitive_desc_create(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
    //     dnnl_prop_kind_t prop_kind, dnnl_rnn_direction_t direction,
    //     src_layer, src_iter, weights_layer, weights_iter, bias, dst_layer, dst_iter,
    //     diff_src_layer, diff_src_iter, diff_weights_layer, diff_weights_iter, diff_bias, diff_dst_layer,
    //     diff_dst_iter (all const_dnnl_memory_desc_t), unsigned flags, const_dnnl_primitive_desc_t hint_fwd_pd,
    //     const_dnnl_primitive_attr_t attr);
    private final MethodHandle lbrGruBackwardPrimitiveDescCreate;
    // dnnl_status_t dnnl_reorder_primitive_desc_create(dnnl_primitive_desc_t *pd, const_dnnl_memory_desc_t src_desc,
    //     dnnl_engine_t src_engine, const_dnnl_memory_desc_t dst_desc, dnnl_engine_t dst_engine,
    //     const_dnnl_primitive_attr_t attr);
    private final MethodHandle reorderPrimitiveDescCreate;
    // const_dnnl_memory_desc_t dnnl_primitive_desc_query_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index);
    private final MethodHandle primitiveDescQueryMd;
    // dnnl_status_t dnnl_primitive_desc_destroy(dnnl_primitive_desc_t primitive_desc);
    private final MethodHandle primitiveDescDestroy;
    // dnnl_status_t dnnl_primitive_create(dnnl_primitive_t *primitive, const_dnnl_primitive_desc_t primitive_desc);
    private final MethodHandle primitiveCreate;
    // dnnl_status_t dnnl_primitive_execute(const_dnnl_primitive_t primitive, dnnl_stream_t stream, int nargs,
    //                                      const dnnl_exec_arg_t *args);
    private final MethodHandle primitiveExecute;
    // dnnl_status_t dnnl_primitive_destroy(dnnl_primitive_t primitive);
    private final MethodHandle primitiveDestroy;
    // const char *dnnl_status2str(dnnl_status_t v);
    private final MethodHandle status2str;
    // void omp_set_num_threads(int n);  (libgomp, optional)
    private final MethodHandle ompSetNumThreads;

    Dnnl(SymbolLookup dnnl, Optional<SymbolLookup> openMp) {
        version = bind(dnnl, "dnnl_version", FunctionDescriptor.of(ADDRESS));
        engineCreate = bind(dnnl, "dnnl_engine_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG));
        streamCreate = bind(dnnl, "dnnl_stream_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        streamWait = bind(dnnl, "dnnl_stream_wait", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        streamDestroy = bind(dnnl, "dnnl_stream_destroy", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        memoryDescCreateWithTag = bind(dnnl, "dnnl_memory_desc_create_with_tag",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        memoryDescCreateWithStrides = bind(dnnl, "dnnl_memory_desc_create_with_strides",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
        memoryDescDestroy = bind(dnnl, "dnnl_memory_desc_destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        memoryDescEqual = bind(dnnl, "dnnl_memory_desc_equal", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        memoryDescGetSize = bind(dnnl, "dnnl_memory_desc_get_size", FunctionDescriptor.of(JAVA_LONG, ADDRESS));
        memoryCreate = bind(dnnl, "dnnl_memory_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        memorySetDataHandle = bind(dnnl, "dnnl_memory_set_data_handle", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG));
        memoryDestroy = bind(dnnl, "dnnl_memory_destroy", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        memoryGetMemoryDesc = bind(dnnl, "dnnl_memory_get_memory_desc",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS));
        primitiveAttrCreate = bind(dnnl, "dnnl_primitive_attr_create", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        primitiveAttrDestroy = bind(dnnl, "dnnl_primitive_attr_destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        primitiveAttrSetScratchpadMode = bind(dnnl, "dnnl_primitive_attr_set_scratchpad_mode",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        lstmForwardPrimitiveDescCreate = bind(dnnl, "dnnl_lstm_forward_primitive_desc_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT,
                        ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                        JAVA_INT, ADDRESS));
        lbrGruForwardPrimitiveDescCreate = bind(dnnl, "dnnl_lbr_gru_forward_primitive_desc_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT,
                        ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS));
        lstmBackwardPrimitiveDescCreate = bind(dnnl, "dnnl_lstm_backward_primitive_desc_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT,
                        ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                        ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                        JAVA_INT, ADDRESS, ADDRESS));
        lbrGruBackwardPrimitiveDescCreate = bind(dnnl, "dnnl_lbr_gru_backward_primitive_desc_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT,
                        ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                        ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                        JAVA_INT, ADDRESS, ADDRESS));
        reorderPrimitiveDescCreate = bind(dnnl, "dnnl_reorder_primitive_desc_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        primitiveDescQueryMd = bind(dnnl, "dnnl_primitive_desc_query_md",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, JAVA_INT));
        primitiveDescDestroy = bind(dnnl, "dnnl_primitive_desc_destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        primitiveCreate = bind(dnnl, "dnnl_primitive_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        primitiveExecute = bind(dnnl, "dnnl_primitive_execute",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_LONG));
        primitiveDestroy = bind(dnnl, "dnnl_primitive_destroy", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        status2str = bind(dnnl, "dnnl_status2str", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        ompSetNumThreads = openMp.flatMap(l -> l.find("omp_set_num_threads"))
                .map(s -> LINKER.downcallHandle(s, FunctionDescriptor.ofVoid(JAVA_INT))).orElse(null);
    }

    private static MethodHandle bind(SymbolLookup lookup, String name, FunctionDescriptor descriptor) {
        MemorySegment symbol = lookup.find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("symbol " + name + " not found in the oneDNN library"));
        return LINKER.downcallHandle(symbol, descriptor);
    }

    /** A non-success status becomes an exception naming the function and the status. */
    void check(int status, String function) {
        if (status != SUCCESS) {
            throw new DnnlException(function, status, statusName(status));
        }
    }

    String statusName(int status) {
        try {
            MemorySegment s = (MemorySegment) status2str.invokeExact(status);
            return s.equals(MemorySegment.NULL) ? "unknown" : s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "unknown";
        }
    }

    /** {@code major.minor.patch (cpu runtime N)} of the loaded library. */
    int[] version() {
        try {
            MemorySegment v = ((MemorySegment) version.invokeExact()).reinterpret(32);
            return new int[] {v.get(JAVA_INT, 0), v.get(JAVA_INT, 4), v.get(JAVA_INT, 8), v.get(JAVA_INT, 24)};
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    boolean canSetThreads() {
        return ompSetNumThreads != null;
    }

    void setNumThreads(int n) {
        try {
            ompSetNumThreads.invokeExact(n);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    MemorySegment engineCreate(Arena arena) {
        MemorySegment out = arena.allocate(ADDRESS);
        try {
            check((int) engineCreate.invokeExact(out, ENGINE_CPU, 0L), "dnnl_engine_create");
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return out.get(ADDRESS, 0);
    }

    long streamCreate(MemorySegment engine) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) streamCreate.invokeExact(out, engine, STREAM_DEFAULT_FLAGS), "dnnl_stream_create");
            return out.get(ADDRESS, 0).address();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void streamWait(long stream) {
        int status;
        try {
            status = (int) streamWait.invokeExact(stream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check(status, "dnnl_stream_wait");
    }

    void streamDestroy(long stream) {
        try {
            check((int) streamDestroy.invokeExact(stream), "dnnl_stream_destroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A plain f32 memory descriptor; the caller destroys it. */
    MemorySegment memoryDesc(Arena arena, long[] dims, int tag) {
        MemorySegment dimsSegment = arena.allocate(DIMS_BYTES, 8);
        for (int i = 0; i < dims.length; i++) {
            dimsSegment.setAtIndex(JAVA_LONG, i, dims[i]);
        }
        MemorySegment out = arena.allocate(ADDRESS);
        try {
            check((int) memoryDescCreateWithTag.invokeExact(out, dims.length, dimsSegment, F32, tag),
                    "dnnl_memory_desc_create_with_tag");
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return out.get(ADDRESS, 0);
    }

    /**
     * A plain f32 memory descriptor with explicit strides (in elements), for a view into a larger
     * tensor such as the first rows of a time-major buffer; the caller destroys it.
     */
    MemorySegment memoryDescStrided(Arena arena, long[] dims, long[] strides) {
        MemorySegment dimsSegment = arena.allocate(DIMS_BYTES, 8);
        MemorySegment stridesSegment = arena.allocate(DIMS_BYTES, 8);
        for (int i = 0; i < dims.length; i++) {
            dimsSegment.setAtIndex(JAVA_LONG, i, dims[i]);
            stridesSegment.setAtIndex(JAVA_LONG, i, strides[i]);
        }
        MemorySegment out = arena.allocate(ADDRESS);
        try {
            check((int) memoryDescCreateWithStrides.invokeExact(out, dims.length, dimsSegment, F32, stridesSegment),
                    "dnnl_memory_desc_create_with_strides");
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return out.get(ADDRESS, 0);
    }

    void memoryDescDestroy(MemorySegment md) {
        try {
            check((int) memoryDescDestroy.invokeExact(md), "dnnl_memory_desc_destroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    boolean memoryDescEqual(MemorySegment a, MemorySegment b) {
        try {
            return (int) memoryDescEqual.invokeExact(a, b) != 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    long memoryDescSize(MemorySegment md) {
        try {
            return (long) memoryDescGetSize.invokeExact(md);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A memory object over {@code handle} (NULL: set later with {@link #setDataHandle}). */
    long memoryCreate(MemorySegment md, MemorySegment engine, MemorySegment handle) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) memoryCreate.invokeExact(out, md, engine, handle), "dnnl_memory_create");
            return out.get(ADDRESS, 0).address();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void setDataHandle(long memory, long address) {
        int status;
        try {
            status = (int) memorySetDataHandle.invokeExact(memory, address);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check(status, "dnnl_memory_set_data_handle");
    }

    void memoryDestroy(long memory) {
        try {
            check((int) memoryDestroy.invokeExact(memory), "dnnl_memory_destroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The descriptor of a memory object; owned by the memory object. */
    MemorySegment memoryDescOf(long memory) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) memoryGetMemoryDesc.invokeExact(memory, out), "dnnl_memory_get_memory_desc");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Attributes with the user scratchpad mode: primitives then carry no state and may run on many threads. */
    MemorySegment userScratchpadAttr(Arena arena) {
        MemorySegment out = arena.allocate(ADDRESS);
        try {
            check((int) primitiveAttrCreate.invokeExact(out), "dnnl_primitive_attr_create");
            MemorySegment attr = out.get(ADDRESS, 0);
            check((int) primitiveAttrSetScratchpadMode.invokeExact(attr, SCRATCHPAD_MODE_USER),
                    "dnnl_primitive_attr_set_scratchpad_mode");
            return attr;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void primitiveAttrDestroy(MemorySegment attr) {
        try {
            check((int) primitiveAttrDestroy.invokeExact(attr), "dnnl_primitive_attr_destroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Forward LSTM ({@code propKind} {@link #FORWARD_INFERENCE} or {@link #FORWARD_TRAINING});
     * {@code projection} is {@link MemorySegment#NULL} without LSTMP. No peepholes.
     */
    MemorySegment lstmForwardPrimitiveDesc(Arena arena, MemorySegment engine, int propKind, int direction,
                                           MemorySegment srcLayer,
                                           MemorySegment srcIter, MemorySegment srcIterC, MemorySegment weightsLayer,
                                           MemorySegment weightsIter, MemorySegment projection, MemorySegment bias,
                                           MemorySegment dstLayer, MemorySegment dstIter, MemorySegment dstIterC,
                                           MemorySegment attr) {
        MemorySegment out = arena.allocate(ADDRESS);
        try {
            check((int) lstmForwardPrimitiveDescCreate.invokeExact(out, engine, propKind, direction,
                    srcLayer, srcIter, srcIterC, weightsLayer, weightsIter, MemorySegment.NULL, projection, bias,
                    dstLayer, dstIter, dstIterC, 0, attr), "dnnl_lstm_forward_primitive_desc_create");
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return out.get(ADDRESS, 0);
    }

    /** Forward linear-before-reset GRU (PyTorch's GRU): 4 bias gates, no cell state. */
    MemorySegment lbrGruForwardPrimitiveDesc(Arena arena, MemorySegment engine, int propKind, int direction,
                                             MemorySegment srcLayer,
                                             MemorySegment srcIter, MemorySegment weightsLayer,
                                             MemorySegment weightsIter, MemorySegment bias, MemorySegment dstLayer,
                                             MemorySegment dstIter, MemorySegment attr) {
        MemorySegment out = arena.allocate(ADDRESS);
        try {
            check((int) lbrGruForwardPrimitiveDescCreate.invokeExact(out, engine, propKind, direction,
                    srcLayer, srcIter, weightsLayer, weightsIter, bias, dstLayer, dstIter, 0, attr),
                    "dnnl_lbr_gru_forward_primitive_desc_create");
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return out.get(ADDRESS, 0);
    }

    /**
     * Backward LSTM (no peepholes; {@code projection}/{@code diffProjection} NULL without LSTMP). No
     * flags: oneDNN then adds into the diff weights and bias, which the caller zeroes before a pass
     * (its brgemm backward refuses {@code dnnl_rnn_flags_diff_weights_overwrite}, ref_rnn.cpp).
     */
    MemorySegment lstmBackwardPrimitiveDesc(Arena arena, MemorySegment engine, int direction, MemorySegment srcLayer,
                                            MemorySegment srcIter, MemorySegment srcIterC, MemorySegment weightsLayer,
                                            MemorySegment weightsIter, MemorySegment projection, MemorySegment bias,
                                            MemorySegment dstLayer, MemorySegment dstIter, MemorySegment dstIterC,
                                            MemorySegment diffSrcLayer, MemorySegment diffSrcIter,
                                            MemorySegment diffSrcIterC, MemorySegment diffWeightsLayer,
                                            MemorySegment diffWeightsIter, MemorySegment diffProjection,
                                            MemorySegment diffBias, MemorySegment diffDstLayer, MemorySegment diffDstIter,
                                            MemorySegment diffDstIterC, MemorySegment hintForward, MemorySegment attr) {
        MemorySegment out = arena.allocate(ADDRESS);
        try {
            check((int) lstmBackwardPrimitiveDescCreate.invokeExact(out, engine, BACKWARD, direction,
                    srcLayer, srcIter, srcIterC, weightsLayer, weightsIter, MemorySegment.NULL, projection, bias,
                    dstLayer, dstIter, dstIterC, diffSrcLayer, diffSrcIter, diffSrcIterC, diffWeightsLayer,
                    diffWeightsIter, MemorySegment.NULL, diffProjection, diffBias, diffDstLayer, diffDstIter,
                    diffDstIterC, 0, hintForward, attr), "dnnl_lstm_backward_primitive_desc_create");
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return out.get(ADDRESS, 0);
    }

    /** Backward linear-before-reset GRU; diff weights and bias accumulate, as for the LSTM. */
    MemorySegment lbrGruBackwardPrimitiveDesc(Arena arena, MemorySegment engine, int direction, MemorySegment srcLayer,
                                              MemorySegment srcIter, MemorySegment weightsLayer,
                                              MemorySegment weightsIter, MemorySegment bias, MemorySegment dstLayer,
                                              MemorySegment dstIter, MemorySegment diffSrcLayer,
                                              MemorySegment diffSrcIter, MemorySegment diffWeightsLayer,
                                              MemorySegment diffWeightsIter, MemorySegment diffBias,
                                              MemorySegment diffDstLayer, MemorySegment diffDstIter,
                                              MemorySegment hintForward, MemorySegment attr) {
        MemorySegment out = arena.allocate(ADDRESS);
        try {
            check((int) lbrGruBackwardPrimitiveDescCreate.invokeExact(out, engine, BACKWARD, direction,
                    srcLayer, srcIter, weightsLayer, weightsIter, bias, dstLayer, dstIter, diffSrcLayer, diffSrcIter,
                    diffWeightsLayer, diffWeightsIter, diffBias, diffDstLayer, diffDstIter, 0, hintForward, attr),
                    "dnnl_lbr_gru_backward_primitive_desc_create");
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return out.get(ADDRESS, 0);
    }

    MemorySegment reorderPrimitiveDesc(Arena arena, MemorySegment engine, MemorySegment from, MemorySegment to) {
        MemorySegment out = arena.allocate(ADDRESS);
        try {
            check((int) reorderPrimitiveDescCreate.invokeExact(out, from, engine, to, engine, MemorySegment.NULL),
                    "dnnl_reorder_primitive_desc_create");
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return out.get(ADDRESS, 0);
    }

    /** The descriptor a primitive wants for an argument; owned by the primitive descriptor. */
    MemorySegment queryMd(MemorySegment pd, int query, int index) {
        try {
            MemorySegment md = (MemorySegment) primitiveDescQueryMd.invokeExact(pd, query, index);
            if (md.equals(MemorySegment.NULL)) {
                throw new DnnlException("dnnl_primitive_desc_query_md", -1, "no descriptor for query " + query + "/" + index);
            }
            return md;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void primitiveDescDestroy(MemorySegment pd) {
        try {
            check((int) primitiveDescDestroy.invokeExact(pd), "dnnl_primitive_desc_destroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    long primitiveCreate(MemorySegment pd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) primitiveCreate.invokeExact(out, pd), "dnnl_primitive_create");
            return out.get(ADDRESS, 0).address();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void execute(long primitive, long stream, int nargs, long args) {
        int status;
        try {
            status = (int) primitiveExecute.invokeExact(primitive, stream, nargs, args);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check(status, "dnnl_primitive_execute");
    }

    void primitiveDestroy(long primitive) {
        try {
            check((int) primitiveDestroy.invokeExact(primitive), "dnnl_primitive_destroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(t);
    }
}
