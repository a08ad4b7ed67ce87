// Elementwise arith / math in a parallel generic: the primal generic is kept, and one
// tangent generic recomputes the body and sums partial * tangent per op
// (d sin(a) = t_a * cos(a), d(s * b), d(p / b) = t_p / b - t_b * (q / b), a select of
// the two tangents under the same compare). The integer path (fptosi, addi, sitofp)
// carries no tangent: z = sitofp(...) * a gets t_z = t_a * sitofp(...) only, and the
// i32 result gets no tangent result at all. With --wrt 1 (y only) z depends on y only
// through the integer path, so its tangent is a zero fill and (after cleanup) no integer
// op is left in the tangent generic. Whole-tensor ops (@g) use the same table.
// RUN: irgrad-opt %s --jvp f | filecheck %s --check-prefix=RAW
// RUN: irgrad-opt %s --jvp f --cleanup | filecheck %s --check-prefix=CLEAN
// RUN: irgrad-opt %s --jvp f --wrt 1 --cleanup | filecheck %s --check-prefix=ONLY-Y
// RUN: irgrad-opt %s --jvp g | filecheck %s --check-prefix=TENSOR
// RUN: irgrad-opt %s --jvp g --cleanup | filecheck %s --check-prefix=TENSOR-CSE

#id = affine_map<(d0) -> (d0)>
func.func @f(%x: tensor<4xf32>, %y: tensor<4xf32>, %n: tensor<4xi32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xi32>) {
  %e = tensor.empty() : tensor<4xf32>
  %ei = tensor.empty() : tensor<4xi32>
  %0:3 = linalg.generic {indexing_maps = [#id, #id, #id, #id, #id, #id], iterator_types = ["parallel"]}
      ins(%x, %y, %n : tensor<4xf32>, tensor<4xf32>, tensor<4xi32>) outs(%e, %e, %ei : tensor<4xf32>, tensor<4xf32>, tensor<4xi32>) {
  ^bb0(%a: f32, %b: f32, %k: i32, %o: f32, %o2: f32, %oi: i32):
    %s = math.sin %a : f32
    %p = arith.mulf %s, %b : f32
    %q = arith.divf %p, %b : f32
    %c = arith.cmpf olt, %a, %b : f32
    %r = arith.select %c, %q, %b : f32
    %i = arith.fptosi %r : f32 to i32
    %j = arith.addi %i, %k : i32
    %back = arith.sitofp %j : i32 to f32
    %z = arith.mulf %back, %a : f32
    linalg.yield %r, %z, %j : f32, f32, i32
  } -> (tensor<4xf32>, tensor<4xf32>, tensor<4xi32>)
  return %0#0, %0#1, %0#2 : tensor<4xf32>, tensor<4xf32>, tensor<4xi32>
}

func.func @g(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %p = math.exp %x : tensor<2x3xf32>
  %q = arith.mulf %p, %x : tensor<2x3xf32>
  return %q : tensor<2x3xf32>
}

// RAW-LABEL: func.func @f_jvp(%arg0: tensor<4xf32>, %arg1: tensor<4xf32>, %arg2: tensor<4xi32>, %arg3: tensor<4xf32>, %arg4: tensor<4xf32>)
// RAW-SAME:      -> (tensor<4xf32>, tensor<4xf32>, tensor<4xi32>, tensor<4xf32>, tensor<4xf32>)
// The primal generic, unchanged, then the tangent generic reading x, y, n and both tangents.
// RAW:       %[[P:[0-9]+]]:3 = linalg.generic {{.*}} ins(%arg0, %arg1, %arg2 :
// RAW:       %[[T:[0-9]+]]:2 = linalg.generic {{.*}} ins(%arg0, %arg1, %arg2, %arg3, %arg4 : {{.*}}) outs(%{{[0-9]+}}, %{{[0-9]+}} : tensor<4xf32>, tensor<4xf32>)
// RAW-NEXT:  ^bb0(%[[A:[a-z0-9_]+]]: f32, %[[B:[a-z0-9_]+]]: f32, %{{[a-z0-9_]+}}: i32, %[[TA:[a-z0-9_]+]]: f32, %[[TB:[a-z0-9_]+]]: f32,
// RAW:         %[[SIN:[0-9]+]] = math.sin %[[A]] : f32
// RAW:         %[[COS:[0-9]+]] = math.cos %[[A]] : f32
// RAW-NEXT:    %[[TS:[0-9]+]] = arith.mulf %[[TA]], %[[COS]] : f32
// RAW:       return %[[P]]#0, %[[P]]#1, %[[P]]#2, %[[T]]#0, %[[T]]#1 :

// CLEAN-LABEL: func.func @f_jvp(
// CLEAN-SAME:      -> (tensor<4xf32>, tensor<4xf32>, tensor<4xi32>, tensor<4xf32>, tensor<4xf32>)
// CLEAN:       %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CLEAN:       %[[P:[0-9]+]]:3 = linalg.generic {{.*}} ins(%arg0, %arg1, %arg2 :
// CLEAN:       %[[T:[0-9]+]]:2 = linalg.generic {{.*}} ins(%arg0, %arg1, %arg2, %arg3, %arg4 :
// CLEAN-NEXT:  ^bb0(%[[A:[a-z0-9_]+]]: f32, %[[B:[a-z0-9_]+]]: f32, %{{[a-z0-9_]+}}: i32, %[[TA:[a-z0-9_]+]]: f32, %[[TB:[a-z0-9_]+]]: f32,
// The primal body, recomputed.
// CLEAN:         %[[SIN:[0-9]+]] = math.sin %[[A]] : f32
// CLEAN:         %[[Q:[0-9]+]] = arith.divf %{{[0-9]+}}, %[[B]] : f32
// CLEAN:         %[[C:[0-9]+]] = arith.cmpf olt, %[[A]], %[[B]] : f32
// CLEAN:         %[[BACK:[0-9]+]] = arith.sitofp
// t_p = (t_a * cos a) * b + t_b * sin a
// CLEAN-NEXT:    %[[COS:[0-9]+]] = math.cos %[[A]] : f32
// CLEAN-NEXT:    %[[TS:[0-9]+]] = arith.mulf %[[TA]], %[[COS]] : f32
// CLEAN-NEXT:    %[[TP1:[0-9]+]] = arith.mulf %[[TS]], %[[B]] : f32
// CLEAN-NEXT:    %[[TP2:[0-9]+]] = arith.mulf %[[TB]], %[[SIN]] : f32
// CLEAN-NEXT:    %[[TP:[0-9]+]] = arith.addf %[[TP1]], %[[TP2]] : f32
// t_q = t_p * (1 / b) + t_b * -(q / b)
// CLEAN-NEXT:    %[[RB:[0-9]+]] = arith.divf %[[ONE]], %[[B]] : f32
// CLEAN-NEXT:    %[[QB:[0-9]+]] = arith.divf %[[Q]], %[[B]] : f32
// CLEAN-NEXT:    %[[NQB:[0-9]+]] = arith.negf %[[QB]] : f32
// CLEAN-NEXT:    %[[TQ1:[0-9]+]] = arith.mulf %[[TP]], %[[RB]] : f32
// CLEAN-NEXT:    %[[TQ2:[0-9]+]] = arith.mulf %[[TB]], %[[NQB]] : f32
// CLEAN-NEXT:    %[[TQ:[0-9]+]] = arith.addf %[[TQ1]], %[[TQ2]] : f32
// t_r = c ? t_q : t_b, under the primal's own compare
// CLEAN-NEXT:    %[[TR:[0-9]+]] = arith.select %[[C]], %[[TQ]], %[[TB]] : f32
// t_z = t_a * sitofp(...): nothing through the integer ops
// CLEAN-NEXT:    %[[TZ:[0-9]+]] = arith.mulf %[[TA]], %[[BACK]] : f32
// CLEAN-NEXT:    linalg.yield %[[TR]], %[[TZ]] : f32, f32
// CLEAN-NEXT:  } -> (tensor<4xf32>, tensor<4xf32>)
// CLEAN-NEXT:  return %[[P]]#0, %[[P]]#1, %[[P]]#2, %[[T]]#0, %[[T]]#1 : tensor<4xf32>, tensor<4xf32>, tensor<4xi32>, tensor<4xf32>, tensor<4xf32>

// ONLY-Y-LABEL: func.func @f_jvp(%arg0: tensor<4xf32>, %arg1: tensor<4xf32>, %arg2: tensor<4xi32>, %arg3: tensor<4xf32>)
// ONLY-Y-SAME:      -> (tensor<4xf32>, tensor<4xf32>, tensor<4xi32>, tensor<4xf32>, tensor<4xf32>)
// ONLY-Y:       %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// ONLY-Y:       %[[P:[0-9]+]]:3 = linalg.generic
// ONLY-Y:       %[[T:[0-9]+]] = linalg.generic {{.*}} ins(%arg0, %arg1, %arg2, %arg3 : {{.*}}) outs(%{{[0-9]+}} : tensor<4xf32>)
// ONLY-Y-NOT:     arith.fptosi
// ONLY-Y-NOT:     arith.sitofp
// ONLY-Y:         %[[TR:[0-9]+]] = arith.select
// ONLY-Y-NEXT:    linalg.yield %[[TR]] : f32
// ONLY-Y:       %[[TZ:[0-9]+]] = linalg.fill ins(%[[ZERO]] : f32)
// ONLY-Y-NEXT:  return %[[P]]#0, %[[P]]#1, %[[P]]#2, %[[T]], %[[TZ]] :

// d exp(x) = t * exp(x), the primal's own exp; d(p * x) = t_p * x + t * p.
// TENSOR-LABEL: func.func @g_jvp(%arg0: tensor<2x3xf32>, %arg1: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>)
// TENSOR-NEXT:    %[[E:[0-9]+]] = math.exp %arg0 : tensor<2x3xf32>
// TENSOR-NEXT:    %[[TE:[0-9]+]] = arith.mulf %arg1, %[[E]] : tensor<2x3xf32>
// TENSOR-NEXT:    %[[Y:[0-9]+]] = arith.mulf %[[E]], %arg0 : tensor<2x3xf32>
// TENSOR-NEXT:    %[[T1:[0-9]+]] = arith.mulf %[[TE]], %arg0 : tensor<2x3xf32>
// TENSOR-NEXT:    %[[T2:[0-9]+]] = arith.mulf %arg1, %[[E]] : tensor<2x3xf32>
// TENSOR-NEXT:    %[[T:[0-9]+]] = arith.addf %[[T1]], %[[T2]] : tensor<2x3xf32>
// TENSOR-NEXT:    return %[[Y]], %[[T]] : tensor<2x3xf32>, tensor<2x3xf32>
// After CSE the two t * exp(x) products are one.
// TENSOR-CSE-LABEL: func.func @g_jvp(
// TENSOR-CSE-NEXT:    %[[E:[0-9]+]] = math.exp %arg0 : tensor<2x3xf32>
// TENSOR-CSE-NEXT:    %[[TE:[0-9]+]] = arith.mulf %arg1, %[[E]] : tensor<2x3xf32>
// TENSOR-CSE-NEXT:    %[[Y:[0-9]+]] = arith.mulf %[[E]], %arg0 : tensor<2x3xf32>
// TENSOR-CSE-NEXT:    %[[T1:[0-9]+]] = arith.mulf %[[TE]], %arg0 : tensor<2x3xf32>
// TENSOR-CSE-NEXT:    %[[T:[0-9]+]] = arith.addf %[[T1]], %[[TE]] : tensor<2x3xf32>
// TENSOR-CSE-NEXT:    return %[[Y]], %[[T]] : tensor<2x3xf32>, tensor<2x3xf32>
