// cblas_sgemm of two OpenBLAS builds on the model's GEMM shapes at preset small (one sample,
// 200 joint tokens, and packed batches of 4), one thread each, alternated 6 times per shape,
// best time kept. Built and run by Scripts/bench/sgemm-libs.sh.
//   sgemm_libs LIB_A LIB_B SYMBOL_PREFIX_B
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
typedef void (*sgemm_t)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
typedef char* (*core_t)(void);
typedef void (*thr_t)(int);
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
struct S{int ta,tb,m,n,k;float beta;};
int main(int argc,char**argv){
  const char* libs[2]={argv[1],argv[2]}; const char* pre[2]={"",argv[3]};
  sgemm_t g[2]; char name[64];
  for(int i=0;i<2;i++){void*h=dlopen(libs[i],RTLD_NOW|RTLD_LOCAL); if(!h){printf("%s\n",dlerror());return 1;}
    snprintf(name,64,"%scblas_sgemm",pre[i]); g[i]=(sgemm_t)dlsym(h,name);
    snprintf(name,64,"%sopenblas_set_num_threads",pre[i]); ((thr_t)dlsym(h,name))(1);
    snprintf(name,64,"%sopenblas_get_corename",pre[i]); char* core=((core_t)dlsym(h,name))();
    snprintf(name,64,"%sopenblas_get_config",pre[i]);
    printf("%c: %s, core %s (%s)\n","AB"[i],libs[i],core,((core_t)dlsym(h,name))());}
  struct S sh[]={{0,1,200,896,128,1},{0,0,200,128,896,0},{0,1,200,200,32,0},{0,1,200,128,640,1},{0,0,200,640,128,0},
    {1,0,50,32,200,0},{0,0,50,32,200,0},{0,0,200,640,16,1},{0,1,200,16,640,0},{1,0,16,640,200,1},
    {0,1,800,896,128,1},{0,0,800,128,896,0},{0,1,800,128,640,1},{0,0,800,640,128,0},{1,0,896,128,800,1}};
  int ns=sizeof(sh)/sizeof(sh[0]);
  float*a=malloc(4*1000000),*b=malloc(4*1000000),*c=malloc(4*1000000);
  for(int i=0;i<1000000;i++){a[i]=(rand()%100)/100.f;b[i]=(rand()%100)/100.f;c[i]=0;}
  for(int s=0;s<ns;s++){
    struct S x=sh[s]; double best[2]={1e9,1e9};
    int lda=x.ta?x.m:x.k, ldb=x.tb?x.k:x.n, ldc=x.n;
    double f=2.0*x.m*x.n*x.k; int reps=(int)(2e8/f)+1;
    for(int round=0;round<6;round++) for(int i=0;i<2;i++){
      double t0=now();
      for(int r=0;r<reps;r++) g[i](101,x.ta?112:111,x.tb?112:111,x.m,x.n,x.k,1.f,a,lda,b,ldb,x.beta,c,ldc);
      double t=(now()-t0)/reps; if(t<best[i])best[i]=t; }
    printf("%s%s m %4d n %4d k %4d beta %g: A %6.1f GFLOP/s, B %6.1f (B/A %.2f)\n",x.ta?"T":"N",x.tb?"T":"N",x.m,x.n,x.k,x.beta,f/best[0]/1e9,f/best[1]/1e9,best[0]/best[1]);
  }
  return 0;
}
