// Reductions through the accumulator, one tangent generic over the same domain.
//   sum:  t_out = t_init + sum t_e  (here e = sin x, so the sum of t_x * cos x from a zero fill)
//   max:  JAX's rule, ties share equally: t_out = sum(x == max ? t_x : 0) / count, where
//         count starts at (init == max ? 1 : 0) and adds (x == max ? 1 : 0); an active
//         init's tangent joins the sum where the init attains the max
//   prod: rewritten as a pairwise tree first (passes/products.py): even * odd columns by
//         strided slices, each product's tangent t_a * b + t_b * a, the odd one out
//         carried by a concat, the last product times the init (which has no tangent).
// RUN: irgrad-opt %s --jvp sum | filecheck %s --check-prefix=SUM
// RUN: irgrad-opt %s --jvp sum --cleanup | filecheck %s --check-prefix=SUM
// RUN: irgrad-opt %s --jvp max | filecheck %s --check-prefix=MAX
// RUN: irgrad-opt %s --jvp max_init --cleanup | filecheck %s --check-prefix=MAX-INIT
// RUN: irgrad-opt %s --jvp prod | filecheck %s --check-prefix=PROD

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @sum(%x: tensor<3x4xf32>) -> tensor<3xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%f : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = math.sin %a : f32
    %r = arith.addf %s, %acc : f32
    linalg.yield %r : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

func.func @max(%x: tensor<3x4xf32>) -> tensor<3xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%f : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.maximumf %a, %acc : f32
    linalg.yield %m : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// The max of x's rows and an active initial value y (jnp.maximum(y, x.max(1))).
func.func @max_init(%x: tensor<3x4xf32>, %y: tensor<3xf32>) -> tensor<3xf32> {
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%y : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.maximumf %a, %acc : f32
    linalg.yield %m : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

func.func @prod(%x: tensor<3x5xf32>) -> tensor<3xf32> {
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%one : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x5xf32>) outs(%f : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.mulf %a, %acc : f32
    linalg.yield %m : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// SUM-LABEL: func.func @sum_jvp(%arg0: tensor<3x4xf32>, %arg1: tensor<3x4xf32>) -> (tensor<3xf32>, tensor<3xf32>)
// SUM:       %[[Y:[0-9]+]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]} ins(%arg0 : tensor<3x4xf32>)
// SUM:       %[[ZERO:[0-9]+]] = linalg.fill ins(%{{.*}} : f32)
// SUM:       %[[T:[0-9]+]] = linalg.generic {indexing_maps = [#[[ID:map[0-9]*]], #[[ID]], #[[ROW:map[0-9]*]]], iterator_types = ["parallel", "reduction"]}
// SUM-SAME:      ins(%arg0, %arg1 : tensor<3x4xf32>, tensor<3x4xf32>) outs(%[[ZERO]] : tensor<3xf32>)
// SUM-NEXT:  ^bb0(%[[X:[a-z0-9_]+]]: f32, %[[TX:[a-z0-9_]+]]: f32, %[[ACC:[a-z0-9_]+]]: f32):
// SUM:         %[[COS:[0-9]+]] = math.cos %[[X]] : f32
// SUM-NEXT:    %[[TE:[0-9]+]] = arith.mulf %[[TX]], %[[COS]] : f32
// SUM-NEXT:    %[[S:[0-9]+]] = arith.addf %[[TE]], %[[ACC]] : f32
// SUM-NEXT:    linalg.yield %[[S]] : f32
// SUM:       return %[[Y]], %[[T]] : tensor<3xf32>, tensor<3xf32>

// MAX-LABEL: func.func @max_jvp(%arg0: tensor<3x4xf32>, %arg1: tensor<3x4xf32>) -> (tensor<3xf32>, tensor<3xf32>)
// MAX:       %[[INIT:[0-9]+]] = linalg.generic
// MAX:       %[[MX:[0-9]+]] = linalg.generic {{.*}}["parallel", "reduction"]} ins(%arg0 : tensor<3x4xf32>) outs(%[[INIT]] : tensor<3xf32>)
// MAX:         arith.maximumf
// The count: 1 if the init attains the max, plus 1 per element that does.
// MAX:       %[[C0:[0-9]+]] = linalg.generic {{.*}}["parallel"]} ins(%[[INIT]], %[[MX]] :
// MAX:         arith.cmpf oeq
// MAX:       %[[COUNT:[0-9]+]] = linalg.generic {{.*}}["parallel", "reduction"]} ins(%arg0, %[[MX]] : {{.*}}) outs(%[[C0]] : tensor<3xf32>)
// MAX-NEXT:  ^bb0(%[[X:[a-z0-9_]+]]: f32, %[[M:[a-z0-9_]+]]: f32, %[[ACC:[a-z0-9_]+]]: f32):
// MAX-NEXT:    %[[EQ:[0-9]+]] = arith.cmpf oeq, %[[X]], %[[M]] : f32
// MAX-NEXT:    %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// MAX-NEXT:    %[[NIL:.*]] = arith.constant 0.000000e+00 : f32
// MAX-NEXT:    %[[ONE_OR_ZERO:[0-9]+]] = arith.select %[[EQ]], %[[ONE]], %[[NIL]] : f32
// MAX-NEXT:    arith.addf %[[ACC]], %[[ONE_OR_ZERO]] : f32
// The sum of the tangents where x attains the max (from zeros: the init has no tangent).
// MAX:       %[[ZERO:[0-9]+]] = linalg.fill
// MAX:       %[[TSUM:[0-9]+]] = linalg.generic {{.*}}["parallel", "reduction"]} ins(%arg0, %arg1, %[[MX]] : {{.*}}) outs(%[[ZERO]] : tensor<3xf32>)
// MAX-NEXT:  ^bb0(%[[X:[a-z0-9_]+]]: f32, %[[TX:[a-z0-9_]+]]: f32, %[[M:[a-z0-9_]+]]: f32, %[[ACC:[a-z0-9_]+]]: f32):
// MAX-NEXT:    %[[EQ:[0-9]+]] = arith.cmpf oeq, %[[X]], %[[M]] : f32
// MAX-NEXT:    %[[NIL:.*]] = arith.constant 0.000000e+00 : f32
// MAX-NEXT:    %[[PICK:[0-9]+]] = arith.select %[[EQ]], %[[TX]], %[[NIL]] : f32
// MAX-NEXT:    arith.addf %[[PICK]], %[[ACC]] : f32
// The mean over the ties.
// MAX:       %[[T:[0-9]+]] = linalg.generic {{.*}}["parallel"]} ins(%[[TSUM]], %[[COUNT]] :
// MAX-NEXT:  ^bb0(%[[S:[a-z0-9_]+]]: f32, %[[N:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// MAX-NEXT:    %[[Q:[0-9]+]] = arith.divf %[[S]], %[[N]] : f32
// MAX-NEXT:    linalg.yield %[[Q]]
// MAX:       return %[[MX]], %[[T]] : tensor<3xf32>, tensor<3xf32>

// MAX-INIT-LABEL: func.func @max_init_jvp(%arg0: tensor<3x4xf32>, %arg1: tensor<3xf32>, %arg2: tensor<3x4xf32>, %arg3: tensor<3xf32>)
// MAX-INIT:       %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// MAX-INIT:       %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// MAX-INIT:       %[[MX:[0-9]+]] = linalg.generic {{.*}} ins(%arg0 : tensor<3x4xf32>) outs(%arg1 : tensor<3xf32>)
// MAX-INIT:       %[[C0:[0-9]+]] = linalg.generic {{.*}} ins(%arg1, %[[MX]] :
// MAX-INIT:         arith.select %{{[0-9]+}}, %[[ONE]], %[[ZERO]] : f32
// MAX-INIT:       %[[COUNT:[0-9]+]] = linalg.generic {{.*}} ins(%arg0, %[[MX]] : {{.*}}) outs(%[[C0]] : tensor<3xf32>)
// y's tangent where y attains the max ...
// MAX-INIT:       %[[T0:[0-9]+]] = linalg.generic {{.*}} ins(%arg1, %[[MX]], %arg3 :
// MAX-INIT-NEXT:  ^bb0(%[[Y:[a-z0-9_]+]]: f32, %[[M:[a-z0-9_]+]]: f32, %[[TY:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// MAX-INIT-NEXT:    %[[EQ:[0-9]+]] = arith.cmpf oeq, %[[Y]], %[[M]] : f32
// MAX-INIT-NEXT:    %[[PICK:[0-9]+]] = arith.select %[[EQ]], %[[TY]], %[[ZERO]] : f32
// MAX-INIT-NEXT:    linalg.yield %[[PICK]] : f32
// ... plus x's tangents where x attains it, divided by the count.
// MAX-INIT:       %[[TS:[0-9]+]] = linalg.generic {{.*}}["parallel", "reduction"]} ins(%arg0, %arg2, %[[MX]] : {{.*}}) outs(%[[T0]] : tensor<3xf32>)
// MAX-INIT:       %[[T:[0-9]+]] = linalg.generic {{.*}} ins(%[[TS]], %[[COUNT]] :
// MAX-INIT:         arith.divf
// MAX-INIT:       return %[[MX]], %[[T]] : tensor<3xf32>, tensor<3xf32>

// PROD-LABEL: func.func @prod_jvp(%arg0: tensor<3x5xf32>, %arg1: tensor<3x5xf32>) -> (tensor<3xf32>, tensor<3xf32>)
// PROD-NOT:   "reduction"
// PROD:       %[[INIT:[0-9]+]] = linalg.generic
// PROD:       %[[E:[0-9]+]] = linalg.generic {{.*}}["parallel", "parallel"]} ins(%arg0 : tensor<3x5xf32>)
// PROD:       %[[TE:[0-9]+]] = linalg.generic {{.*}}["parallel", "parallel"]} ins(%arg0, %arg1 :
// PROD-NEXT:  ^bb0(%{{.*}}: f32, %[[TX:[a-z0-9_]+]]: f32,
// PROD-NEXT:    linalg.yield %[[TX]] : f32
// Columns 0, 2 times columns 1, 3, and the product rule on the tangents' same columns.
// PROD-NEXT:  } -> tensor<3x5xf32>
// PROD-NEXT:  %[[A:.*]] = tensor.extract_slice %[[E]][0, 0] [3, 2] [1, 2]
// PROD-NEXT:  %[[TA:.*]] = tensor.extract_slice %[[TE]][0, 0] [3, 2] [1, 2]
// PROD-NEXT:  %[[B:.*]] = tensor.extract_slice %[[E]][0, 1] [3, 2] [1, 2]
// PROD-NEXT:  %[[TB:.*]] = tensor.extract_slice %[[TE]][0, 1] [3, 2] [1, 2]
// PROD:       %[[AB:[0-9]+]] = linalg.generic {{.*}} ins(%[[A]], %[[B]] :
// PROD:         arith.mulf
// PROD:       %[[TAB:[0-9]+]] = linalg.generic {{.*}} ins(%[[A]], %[[B]], %[[TA]], %[[TB]] :
// PROD-NEXT:  ^bb0(%[[VA:[a-z0-9_]+]]: f32, %[[VB:[a-z0-9_]+]]: f32, %[[VTA:[a-z0-9_]+]]: f32, %[[VTB:[a-z0-9_]+]]: f32,
// PROD:         %[[P1:[0-9]+]] = arith.mulf %[[VTA]], %[[VB]] : f32
// PROD-NEXT:    %[[P2:[0-9]+]] = arith.mulf %[[VTB]], %[[VA]] : f32
// PROD-NEXT:    %[[P:[0-9]+]] = arith.addf %[[P1]], %[[P2]] : f32
// PROD-NEXT:    linalg.yield %[[P]] : f32
// The odd column 4 joins the products (the tangent's column 4 joins their tangents).
// PROD:       %[[ODD:.*]] = tensor.extract_slice %[[E]][0, 4] [3, 1] [1, 1]
// PROD-NEXT:  %[[TODD:.*]] = tensor.extract_slice %[[TE]][0, 4] [3, 1] [1, 1]
// PROD-NEXT:  tensor.concat dim(1) %[[AB]], %[[ODD]] : (tensor<3x2xf32>, tensor<3x1xf32>) -> tensor<3x3xf32>
// PROD-NEXT:  tensor.concat dim(1) %[[TAB]], %[[TODD]] : (tensor<3x2xf32>, tensor<3x1xf32>) -> tensor<3x3xf32>
// PROD-NOT:   "reduction"
// The last level's product and its tangent, times the init.
// PROD:       %[[LAST:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1]] : tensor<3x1xf32> into tensor<3xf32>
// PROD-NEXT:  %[[TLAST:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1]] : tensor<3x1xf32> into tensor<3xf32>
// PROD:       %[[Y:[0-9]+]] = linalg.generic {{.*}} ins(%[[LAST]], %[[INIT]] :
// PROD:       %[[T:[0-9]+]] = linalg.generic {{.*}} ins(%[[LAST]], %[[INIT]], %[[TLAST]] :
// PROD-NEXT:  ^bb0(%{{.*}}: f32, %[[VI:[a-z0-9_]+]]: f32, %[[VT:[a-z0-9_]+]]: f32,
// PROD:         %[[R:[0-9]+]] = arith.mulf %[[VT]], %[[VI]] : f32
// PROD-NEXT:    linalg.yield %[[R]] : f32
// PROD:       return %[[Y]], %[[T]] : tensor<3xf32>, tensor<3xf32>
