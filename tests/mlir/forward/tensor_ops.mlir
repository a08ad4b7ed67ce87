// The tensor ops are linear in their data operands: the tangent is the same op on the
// tangents, with the same offsets / sizes / strides / reassociation / dim; an operand
// without a tangent contributes zeros (a zero-filled destination for insert_slice, a
// zero block in a concat), and a result with none is a zero fill.
// RUN: irgrad-opt %s --jvp f | filecheck %s --check-prefix=ALL
// RUN: irgrad-opt %s --jvp f --cleanup | filecheck %s --check-prefix=ALL
// RUN: irgrad-opt %s --jvp g --wrt 1 | filecheck %s --check-prefix=ONLY-Y
// RUN: irgrad-opt %s --jvp f --wrt 1 | filecheck %s --check-prefix=DYN-ZERO

func.func @f(%x: tensor<4x6xf32>, %y: tensor<2x3xf32>) -> (tensor<24xf32>, tensor<2x3x2xf32>, tensor<?x6xf32>) {
  %s = tensor.extract_slice %x[1, 0] [2, 6] [2, 1] : tensor<4x6xf32> to tensor<2x6xf32>
  %i = tensor.insert_slice %y into %x[0, 2] [2, 3] [1, 1] : tensor<2x3xf32> into tensor<4x6xf32>
  %c = tensor.collapse_shape %i [[0, 1]] : tensor<4x6xf32> into tensor<24xf32>
  %ex = tensor.expand_shape %s [[0], [1, 2]] output_shape [2, 3, 2] : tensor<2x6xf32> into tensor<2x3x2xf32>
  %cat = tensor.concat dim(0) %s, %x : (tensor<2x6xf32>, tensor<4x6xf32>) -> tensor<6x6xf32>
  %d = tensor.cast %cat : tensor<6x6xf32> to tensor<?x6xf32>
  return %c, %ex, %d : tensor<24xf32>, tensor<2x3x2xf32>, tensor<?x6xf32>
}

func.func @g(%x: tensor<4x6xf32>, %y: tensor<2x3xf32>) -> (tensor<4x6xf32>, tensor<4x3xf32>, tensor<2x6xf32>) {
  %i = tensor.insert_slice %y into %x[0, 2] [2, 3] [1, 1] : tensor<2x3xf32> into tensor<4x6xf32>
  %s = tensor.extract_slice %x[0, 0] [2, 3] [1, 1] : tensor<4x6xf32> to tensor<2x3xf32>
  %cat = tensor.concat dim(0) %s, %y : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<4x3xf32>
  %xs = tensor.extract_slice %x[2, 0] [2, 6] [1, 1] : tensor<4x6xf32> to tensor<2x6xf32>
  return %i, %cat, %xs : tensor<4x6xf32>, tensor<4x3xf32>, tensor<2x6xf32>
}

// ALL-LABEL: func.func @f_jvp(%arg0: tensor<4x6xf32>, %arg1: tensor<2x3xf32>, %arg2: tensor<4x6xf32>, %arg3: tensor<2x3xf32>)
// ALL-SAME:      -> (tensor<24xf32>, tensor<2x3x2xf32>, tensor<?x6xf32>, tensor<24xf32>, tensor<2x3x2xf32>, tensor<?x6xf32>)
// ALL-DAG:   %[[S:.*]] = tensor.extract_slice %arg0[1, 0] [2, 6] [2, 1] : tensor<4x6xf32> to tensor<2x6xf32>
// ALL-DAG:   %[[TS:.*]] = tensor.extract_slice %arg2[1, 0] [2, 6] [2, 1] : tensor<4x6xf32> to tensor<2x6xf32>
// ALL-DAG:   %[[I:.*]] = tensor.insert_slice %arg1 into %arg0[0, 2] [2, 3] [1, 1]
// ALL-DAG:   %[[TI:.*]] = tensor.insert_slice %arg3 into %arg2[0, 2] [2, 3] [1, 1]
// ALL-DAG:   %[[C:.*]] = tensor.collapse_shape %[[I]] {{\[\[}}0, 1]] : tensor<4x6xf32> into tensor<24xf32>
// ALL-DAG:   %[[TC:.*]] = tensor.collapse_shape %[[TI]] {{\[\[}}0, 1]] : tensor<4x6xf32> into tensor<24xf32>
// ALL-DAG:   %[[E:.*]] = tensor.expand_shape %[[S]] {{\[\[}}0], [1, 2]] output_shape [2, 3, 2]
// ALL-DAG:   %[[TE:.*]] = tensor.expand_shape %[[TS]] {{\[\[}}0], [1, 2]] output_shape [2, 3, 2]
// ALL-DAG:   %[[CAT:.*]] = tensor.concat dim(0) %[[S]], %arg0 :
// ALL-DAG:   %[[TCAT:.*]] = tensor.concat dim(0) %[[TS]], %arg2 :
// ALL-DAG:   %[[D:.*]] = tensor.cast %[[CAT]] : tensor<6x6xf32> to tensor<?x6xf32>
// ALL-DAG:   %[[TD:.*]] = tensor.cast %[[TCAT]] : tensor<6x6xf32> to tensor<?x6xf32>
// ALL:       return %[[C]], %[[E]], %[[D]], %[[TC]], %[[TE]], %[[TD]] :

// ONLY-Y-LABEL: func.func @g_jvp(%arg0: tensor<4x6xf32>, %arg1: tensor<2x3xf32>, %arg2: tensor<2x3xf32>)
// ONLY-Y:       %[[I:.*]] = tensor.insert_slice %arg1 into %arg0[0, 2] [2, 3] [1, 1]
// ONLY-Y:       %[[Z1:[0-9]+]] = linalg.fill ins(%{{.*}} : f32) outs(%{{[0-9]+}} : tensor<4x6xf32>)
// ONLY-Y-NEXT:  %[[TI:.*]] = tensor.insert_slice %arg2 into %[[Z1]][0, 2] [2, 3] [1, 1]
// ONLY-Y:       %[[CAT:.*]] = tensor.concat dim(0) %{{.*}}, %arg1 :
// ONLY-Y:       %[[Z2:[0-9]+]] = linalg.fill ins(%{{.*}} : f32) outs(%{{[0-9]+}} : tensor<2x3xf32>)
// ONLY-Y-NEXT:  %[[TCAT:.*]] = tensor.concat dim(0) %[[Z2]], %arg2 :
// ONLY-Y-NOT:   tensor.extract_slice %arg2
// ONLY-Y:       %[[Z3:[0-9]+]] = linalg.fill ins(%{{.*}} : f32) outs(%{{[0-9]+}} : tensor<2x6xf32>)
// ONLY-Y:       return %[[I]], %[[CAT]], %{{.*}}, %[[TI]], %[[TCAT]], %[[Z3]] :

// With --wrt 1, @f's tensor<?x6xf32> result depends on x only: its tangent is zeros sized
// from the primal result (tensor.dim), the only way to build a dynamically shaped zero.
// DYN-ZERO-LABEL: func.func @f_jvp(%arg0: tensor<4x6xf32>, %arg1: tensor<2x3xf32>, %arg2: tensor<2x3xf32>)
// DYN-ZERO:       %[[CAST:.*]] = tensor.cast %{{.*}} : tensor<6x6xf32> to tensor<?x6xf32>
// DYN-ZERO:       %[[C0:.*]] = arith.constant 0 : index
// DYN-ZERO-NEXT:  %[[DIM:.*]] = tensor.dim %[[CAST]], %[[C0]] : tensor<?x6xf32>
// DYN-ZERO-NEXT:  %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// DYN-ZERO-NEXT:  %[[E:.*]] = tensor.empty(%[[DIM]]) : tensor<?x6xf32>
// DYN-ZERO-NEXT:  %[[Z:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<?x6xf32>) -> tensor<?x6xf32>
// DYN-ZERO-NEXT:  return {{.*}}, %[[Z]] : tensor<24xf32>, tensor<2x3x2xf32>, tensor<?x6xf32>, tensor<24xf32>, tensor<2x3x2xf32>, tensor<?x6xf32>
